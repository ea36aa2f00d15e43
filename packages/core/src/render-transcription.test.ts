import { describe, expect, it } from 'vitest';
import {
  TRANSCRIPTION_FORMATS,
  formatNeedsTimestamps,
  formatTimestamp,
  parseTranscriptionFormat,
  renderTranscription,
  toVerboseJson,
  type RenderContext,
} from './render-transcription.js';
import { SpeechError } from './speech-error.js';
import type { TranscriptionResult } from './transcription-result.js';

const context: RenderContext = { task: 'transcribe' };

/** Two Whisper-style segments; segment texts keep Whisper's leading space. */
function twoSegments(): TranscriptionResult {
  return {
    text: 'Hello there. General Kenobi.',
    language: 'en',
    duration: 4.25,
    segments: [
      { id: 0, start: 1.5, end: 3, text: ' Hello there.' },
      { id: 1, start: 3, end: 4.25, text: ' General Kenobi. ' },
    ],
    words: [
      { word: ' Hello', start: 1.5, end: 2 },
      { word: ' there.', start: 2, end: 3 },
    ],
  };
}

function noSegments(): TranscriptionResult {
  return { text: ' The whole thing. ', language: 'en', duration: 2.5, segments: [], words: [] };
}

function diarized(): TranscriptionResult {
  return {
    text: 'L: hi\nR: hello',
    duration: 2,
    segments: [
      { id: 0, start: 0, end: 1, text: ' hi', channel: 'L' },
      { id: 1, start: 1, end: 2, text: ' hello', channel: 'R' },
    ],
    words: [
      { word: ' hi', start: 0, end: 1, channel: 'L' },
      { word: ' hello', start: 1, end: 2, channel: 'R' },
    ],
  };
}

describe('parseTranscriptionFormat', () => {
  it.each(TRANSCRIPTION_FORMATS)('accepts %s', (format) => {
    expect(parseTranscriptionFormat(format)).toBe(format);
  });

  it('lists exactly the six OpenAI formats (txt is an alias of text)', () => {
    expect([...TRANSCRIPTION_FORMATS]).toEqual(['json', 'text', 'txt', 'verbose_json', 'srt', 'vtt']);
  });

  it('defaults to json when the field is missing or empty', () => {
    expect(parseTranscriptionFormat(undefined)).toBe('json');
    expect(parseTranscriptionFormat('')).toBe('json');
    expect(parseTranscriptionFormat('   ')).toBe('json');
  });

  it('is case-insensitive and trims', () => {
    expect(parseTranscriptionFormat('SRT')).toBe('srt');
    expect(parseTranscriptionFormat('Verbose_JSON')).toBe('verbose_json');
    expect(parseTranscriptionFormat(' vtt ')).toBe('vtt');
    expect(parseTranscriptionFormat('TXT')).toBe('txt');
  });

  it('rejects an unknown format with a 400 that lists the valid ones', () => {
    let caught: unknown;
    try {
      parseTranscriptionFormat('xml');
    } catch (error) {
      caught = error;
    }
    expect(SpeechError.is(caught)).toBe(true);
    const error = caught as SpeechError;
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.status).toBe(400);
    expect(error.param).toBe('response_format');
    expect(error.message).toContain("'xml'");
    expect(error.message).toContain('json, text, txt, verbose_json, srt, vtt');
  });
});

describe('formatNeedsTimestamps', () => {
  it('is true only for the timed formats', () => {
    expect(TRANSCRIPTION_FORMATS.filter(formatNeedsTimestamps)).toEqual(['verbose_json', 'srt', 'vtt']);
  });
});

describe('formatTimestamp', () => {
  it('formats HH:MM:SS,mmm with zero padding', () => {
    expect(formatTimestamp(0)).toBe('00:00:00,000');
    expect(formatTimestamp(1.5)).toBe('00:00:01,500');
    expect(formatTimestamp(3)).toBe('00:00:03,000');
    expect(formatTimestamp(59.999)).toBe('00:00:59,999');
    expect(formatTimestamp(61.007)).toBe('00:01:01,007');
  });

  it('uses "." for VTT', () => {
    expect(formatTimestamp(1.5, '.')).toBe('00:00:01.500');
  });

  it('goes past an hour and does not cap hours', () => {
    expect(formatTimestamp(3725.5)).toBe('01:02:05,500');
    expect(formatTimestamp(3600)).toBe('01:00:00,000');
    expect(formatTimestamp(100 * 3600 + 1)).toBe('100:00:01,000');
  });

  it('carries a rounded-up millisecond into the next second', () => {
    expect(formatTimestamp(0.9996)).toBe('00:00:01,000');
    expect(formatTimestamp(59.9999)).toBe('00:01:00,000');
  });

  it("rounds exact half milliseconds to even, like Python's round()", () => {
    // Each of these times 1000 is exactly x.5 in binary floating point.
    expect(0.0025 * 1000).toBe(2.5);
    expect(formatTimestamp(0.0005)).toBe('00:00:00,000');
    expect(formatTimestamp(0.0015)).toBe('00:00:00,002');
    expect(formatTimestamp(0.0025)).toBe('00:00:00,002');
    expect(formatTimestamp(0.0035)).toBe('00:00:00,004');
    expect(formatTimestamp(0.0045)).toBe('00:00:00,004');
    expect(formatTimestamp(0.0625)).toBe('00:00:00,062');
    expect(formatTimestamp(1.0005)).toBe('00:00:01,000');
    expect(formatTimestamp(1.0025)).toBe('00:00:01,002');
  });

  it('rounds non-halves to nearest, on the float product', () => {
    // 0.5005 * 1000 is 500.49999999999994: Python rounds it to 500 too.
    expect(formatTimestamp(0.5005)).toBe('00:00:00,500');
    expect(formatTimestamp(0.0026)).toBe('00:00:00,003');
    expect(formatTimestamp(0.0024)).toBe('00:00:00,002');
  });

  it('clamps negative times to zero', () => {
    expect(formatTimestamp(-1)).toBe('00:00:00,000');
  });
});

describe('renderTranscription', () => {
  describe('json', () => {
    it('is exactly {"text"}', () => {
      const rendered = renderTranscription(twoSegments(), 'json', context);
      expect(rendered.contentType).toBe('application/json');
      expect(rendered.body).toBe('{"text":"Hello there. General Kenobi."}');
      expect(Object.keys(JSON.parse(rendered.body))).toEqual(['text']);
    });

    it('keeps the text as given, including diarized turn lines', () => {
      expect(JSON.parse(renderTranscription(diarized(), 'json', context).body)).toEqual({ text: 'L: hi\nR: hello' });
    });
  });

  describe('text and txt', () => {
    it.each(['text', 'txt'] as const)('%s is the plain transcript', (format) => {
      const rendered = renderTranscription(twoSegments(), format, context);
      expect(rendered.contentType).toBe('text/plain; charset=utf-8');
      expect(rendered.body).toBe('Hello there. General Kenobi.');
    });
  });

  describe('verbose_json', () => {
    it('has exactly task, language, duration, text, segments, words in that order', () => {
      const rendered = renderTranscription(twoSegments(), 'verbose_json', context);
      expect(rendered.contentType).toBe('application/json');
      const body = JSON.parse(rendered.body);
      expect(Object.keys(body)).toEqual(['task', 'language', 'duration', 'text', 'segments', 'words']);
      expect(body.task).toBe('transcribe');
      expect(body.language).toBe('en');
      expect(body.duration).toBe(4.25);
      expect(body.text).toBe('Hello there. General Kenobi.');
      expect(body.words).toEqual([
        { word: ' Hello', start: 1.5, end: 2 },
        { word: ' there.', start: 2, end: 3 },
      ]);
    });

    it('gives segments exactly the Whisper keys, with defaults, and unstripped text', () => {
      const body = JSON.parse(renderTranscription(twoSegments(), 'verbose_json', context).body);
      expect(body.segments).toHaveLength(2);
      for (const segment of body.segments) {
        expect(Object.keys(segment)).toEqual([
          'id',
          'seek',
          'start',
          'end',
          'text',
          'tokens',
          'temperature',
          'avg_logprob',
          'compression_ratio',
          'no_speech_prob',
        ]);
      }
      expect(body.segments[0]).toEqual({
        id: 0,
        seek: 0,
        start: 1.5,
        end: 3,
        text: ' Hello there.',
        tokens: [],
        temperature: 0,
        avg_logprob: null,
        compression_ratio: null,
        no_speech_prob: null,
      });
      expect(body.segments[1].text).toBe(' General Kenobi. ');
    });

    it('passes through engine values for the optional segment fields', () => {
      const result = twoSegments();
      result.segments[0] = {
        ...result.segments[0]!,
        seek: 300,
        tokens: [1, 2, 3],
        temperature: 0.2,
        avg_logprob: -0.25,
        compression_ratio: 1.5,
        no_speech_prob: 0.01,
      };
      const segment = toVerboseJson(result, context).segments as Record<string, unknown>[];
      expect(segment[0]).toMatchObject({
        seek: 300,
        tokens: [1, 2, 3],
        temperature: 0.2,
        avg_logprob: -0.25,
        compression_ratio: 1.5,
        no_speech_prob: 0.01,
      });
    });

    it('adds channel to segments and words only when diarized', () => {
      const body = JSON.parse(renderTranscription(diarized(), 'verbose_json', context).body);
      expect(Object.keys(body.segments[0])).toEqual([
        'id',
        'seek',
        'start',
        'end',
        'text',
        'tokens',
        'temperature',
        'avg_logprob',
        'compression_ratio',
        'no_speech_prob',
        'channel',
      ]);
      expect(body.segments.map((segment: { channel: string }) => segment.channel)).toEqual(['L', 'R']);
      expect(body.words[1]).toEqual({ word: ' hello', start: 1, end: 2, channel: 'R' });
      const plain = JSON.parse(renderTranscription(twoSegments(), 'verbose_json', context).body);
      expect('channel' in plain.segments[0]).toBe(false);
    });

    it('keeps segments and words present when empty', () => {
      const body = JSON.parse(renderTranscription(noSegments(), 'verbose_json', context).body);
      expect(body.segments).toEqual([]);
      expect(body.words).toEqual([]);
    });

    it('says translate for translations', () => {
      const body = JSON.parse(renderTranscription(twoSegments(), 'verbose_json', { task: 'translate' }).body);
      expect(body.task).toBe('translate');
    });

    it('falls back to the context language, then en', () => {
      const result: TranscriptionResult = { text: 'hola', segments: [], words: [] };
      expect(toVerboseJson(result, { task: 'transcribe', language: 'es' }).language).toBe('es');
      expect(toVerboseJson(result, { task: 'transcribe' }).language).toBe('en');
      expect(toVerboseJson({ ...result, language: 'fr' }, { task: 'transcribe', language: 'es' }).language).toBe('fr');
    });

    it('falls back to the measured duration, then 0', () => {
      const result: TranscriptionResult = { text: 'x', segments: [], words: [] };
      expect(toVerboseJson(result, { task: 'transcribe', duration: 7.5 }).duration).toBe(7.5);
      expect(toVerboseJson(result, { task: 'transcribe' }).duration).toBe(0);
      expect(toVerboseJson({ ...result, duration: 3 }, { task: 'transcribe', duration: 7.5 }).duration).toBe(3);
    });

    it('copies words rather than sharing them', () => {
      const result = twoSegments();
      const words = toVerboseJson(result, context).words as object[];
      expect(words[0]).toEqual(result.words[0]);
      expect(words[0]).not.toBe(result.words[0]);
    });
  });

  describe('srt', () => {
    it('renders two segments exactly', () => {
      const rendered = renderTranscription(twoSegments(), 'srt', context);
      expect(rendered.contentType).toBe('application/x-subrip');
      expect(rendered.body).toBe(
        '1\n00:00:01,500 --> 00:00:03,000\nHello there.\n' +
          '\n' +
          '2\n00:00:03,000 --> 00:00:04,250\nGeneral Kenobi.\n',
      );
    });

    it('ends with a single trailing newline', () => {
      const body = renderTranscription(twoSegments(), 'srt', context).body;
      expect(body.endsWith('.\n')).toBe(true);
      expect(body.endsWith('\n\n')).toBe(false);
    });

    it('renders one cue from 0 to the duration when there are no segments', () => {
      expect(renderTranscription(noSegments(), 'srt', context).body).toBe(
        '1\n00:00:00,000 --> 00:00:02,500\nThe whole thing.\n',
      );
    });

    it('uses the context duration, then 0, for the synthetic cue', () => {
      const result: TranscriptionResult = { text: 'x', segments: [], words: [] };
      expect(renderTranscription(result, 'srt', { task: 'transcribe', duration: 1.25 }).body).toBe(
        '1\n00:00:00,000 --> 00:00:01,250\nx\n',
      );
      expect(renderTranscription(result, 'srt', context).body).toBe('1\n00:00:00,000 --> 00:00:00,000\nx\n');
    });

    it('prefixes diarized cues with the channel', () => {
      expect(renderTranscription(diarized(), 'srt', context).body).toBe(
        '1\n00:00:00,000 --> 00:00:01,000\nL: hi\n\n2\n00:00:01,000 --> 00:00:02,000\nR: hello\n',
      );
    });

    it('formats cues past an hour', () => {
      const result: TranscriptionResult = {
        text: 'late',
        segments: [{ id: 0, start: 3725.5, end: 3726.25, text: ' late' }],
        words: [],
      };
      expect(renderTranscription(result, 'srt', context).body).toBe('1\n01:02:05,500 --> 01:02:06,250\nlate\n');
    });
  });

  describe('vtt', () => {
    it('renders two segments exactly', () => {
      const rendered = renderTranscription(twoSegments(), 'vtt', context);
      expect(rendered.contentType).toBe('text/vtt; charset=utf-8');
      expect(rendered.body).toBe(
        'WEBVTT\n' +
          '\n' +
          '00:00:01.500 --> 00:00:03.000\nHello there.\n' +
          '\n' +
          '00:00:03.000 --> 00:00:04.250\nGeneral Kenobi.\n',
      );
    });

    it('renders one cue from 0 to the duration when there are no segments', () => {
      expect(renderTranscription(noSegments(), 'vtt', context).body).toBe(
        'WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nThe whole thing.\n',
      );
    });

    it('prefixes diarized cues with the channel', () => {
      expect(renderTranscription(diarized(), 'vtt', context).body).toBe(
        'WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nL: hi\n\n00:00:01.000 --> 00:00:02.000\nR: hello\n',
      );
    });
  });
});

describe('formatTimestamp with broken input', () => {
  it('renders NaN and Infinity as zero instead of garbage', async () => {
    const { formatTimestamp } = await import('./render-transcription.js');
    expect(formatTimestamp(Number.NaN)).toBe('00:00:00,000');
    expect(formatTimestamp(Number.POSITIVE_INFINITY, '.')).toBe('00:00:00.000');
  });
});
