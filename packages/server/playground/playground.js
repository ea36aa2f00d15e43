// The talkies playground: plain browser JavaScript, no build step. Everything it shows
// comes from the API (models, voices); the bearer token, when the server wants one, is
// kept in sessionStorage, so it lives and dies with this tab.

const TOKEN_KEY = 'talkies.token';
const $ = (id) => document.getElementById(id);

const state = { models: [], voices: [], recording: undefined, recorded: undefined };

function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

function setStatus(element, text, isError = false) {
  element.textContent = text;
  element.classList.toggle('error', isError);
}

/** fetch with the bearer token; a 401 opens the token form and throws. */
async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  if (token()) headers.set('Authorization', `Bearer ${token()}`);
  const response = await fetch(path, { ...init, headers });
  if (response.status === 401) {
    $('token-form').hidden = false;
    setStatus($('connection'), token() ? 'The token was refused: enter the right one.' : 'This server needs a bearer token.', true);
    throw new Error('unauthorized');
  }
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try {
      const body = await response.json();
      message = body?.error?.message ?? body?.detail ?? message;
    } catch {
      // Not JSON: keep the status line.
    }
    throw new Error(message);
  }
  return response;
}

function fillSelect(select, items, selected) {
  select.replaceChildren(
    ...items.map(({ value, label }) => {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = label;
      option.selected = value === selected;
      return option;
    }),
  );
}

async function loadCatalog() {
  setStatus($('connection'), 'Loading models…');
  const models = await (await api('/v1/models')).json();
  const voices = await (await api('/v1/audio/voices')).json();
  state.models = models.data;
  state.voices = voices.voices;
  const asr = state.models.filter((model) => model.modality === 'asr');
  const tts = state.models.filter((model) => model.modality === 'tts');
  fillSelect($('asr-model'), asr.map((model) => ({ value: model.id, label: model.id })));
  fillSelect($('tts-model'), tts.map((model) => ({ value: model.id, label: model.id })));
  fillVoices();
  $('token-form').hidden = !token();
  setStatus($('connection'), `Connected: ${asr.length} speech-to-text and ${tts.length} text-to-speech model(s).`);
  updateButtons();
}

function fillVoices() {
  const model = $('tts-model').value;
  const voices = state.voices.filter((voice) => voice.model === model);
  const fallback = voices.find((voice) => voice.default)?.voice;
  fillSelect(
    $('voice'),
    voices.map((voice) => ({ value: voice.voice, label: voice.language && voice.language !== voice.voice ? `${voice.voice} (${voice.language})` : voice.voice })),
    fallback,
  );
}

function updateButtons() {
  const audio = $('audio-file').files.length > 0 || state.recorded !== undefined;
  $('transcribe').disabled = !$('asr-model').value || !audio;
  $('speak').disabled = !$('tts-model').value;
}

// ---------------------------------------------------------------------------------------
// Speech to text

function formatTime(seconds) {
  const minutes = Math.floor(seconds / 60);
  return `${String(minutes).padStart(2, '0')}:${(seconds - minutes * 60).toFixed(2).padStart(5, '0')}`;
}

async function transcribe() {
  const status = $('transcribe-status');
  const file = $('audio-file').files[0] ?? state.recorded;
  if (!file) return;
  const form = new FormData();
  form.set('model', $('asr-model').value);
  form.set('response_format', 'verbose_json');
  form.set('file', file, file.name || 'recording.webm');
  $('transcribe').disabled = true;
  setStatus(status, 'Transcribing…');
  const started = performance.now();
  try {
    const result = await (await api('/v1/audio/transcriptions', { method: 'POST', body: form })).json();
    $('transcript').textContent = result.text;
    const rows = (result.segments ?? []).map((segment) => {
      const row = document.createElement('tr');
      for (const [text, className] of [[formatTime(segment.start), 'time'], [formatTime(segment.end), 'time'], [segment.text.trim(), '']]) {
        const cell = document.createElement('td');
        cell.textContent = text;
        if (className) cell.className = className;
        row.append(cell);
      }
      return row;
    });
    $('segments').querySelector('tbody').replaceChildren(...rows);
    $('segments').hidden = rows.length === 0;
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    setStatus(status, `${rows.length} segment(s), ${result.duration?.toFixed(1) ?? '?'} s of audio, in ${seconds} s.`);
  } catch (error) {
    if (error.message !== 'unauthorized') setStatus(status, error.message, true);
  } finally {
    updateButtons();
  }
}

async function toggleRecording() {
  const button = $('record');
  if (state.recording) {
    state.recording.stop();
    return;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const recorder = new MediaRecorder(stream);
    const parts = [];
    recorder.ondataavailable = (event) => parts.push(event.data);
    recorder.onstop = () => {
      for (const track of stream.getTracks()) track.stop();
      const type = recorder.mimeType || 'audio/webm';
      const extension = type.includes('ogg') ? 'ogg' : type.includes('mp4') ? 'm4a' : 'webm';
      state.recorded = new File(parts, `recording.${extension}`, { type });
      state.recording = undefined;
      $('audio-file').value = '';
      button.textContent = '● Record';
      button.classList.remove('recording');
      setStatus($('record-status'), `Recorded ${(state.recorded.size / 1024).toFixed(0)} KiB.`);
      updateButtons();
    };
    recorder.start();
    state.recording = recorder;
    button.textContent = '■ Stop';
    button.classList.add('recording');
    setStatus($('record-status'), 'Recording…');
  } catch (error) {
    setStatus($('record-status'), `Microphone unavailable: ${error.message}`, true);
  }
}

// ---------------------------------------------------------------------------------------
// Text to speech: 16-bit PCM streamed from the server, played with Web Audio as it arrives.

/** A WAV file around 16-bit mono PCM, for the replay player. */
function wavFile(chunks, sampleRate) {
  const length = chunks.reduce((total, chunk) => total + chunk.byteLength, 0);
  const header = new DataView(new ArrayBuffer(44));
  const text = (offset, value) => [...value].forEach((character, index) => header.setUint8(offset + index, character.charCodeAt(0)));
  text(0, 'RIFF');
  header.setUint32(4, 36 + length, true);
  text(8, 'WAVE');
  text(12, 'fmt ');
  header.setUint32(16, 16, true);
  header.setUint16(20, 1, true);
  header.setUint16(22, 1, true);
  header.setUint32(24, sampleRate, true);
  header.setUint32(28, sampleRate * 2, true);
  header.setUint16(32, 2, true);
  header.setUint16(34, 16, true);
  text(36, 'data');
  header.setUint32(40, length, true);
  return new Blob([header, ...chunks], { type: 'audio/wav' });
}

async function speak() {
  const status = $('speak-status');
  $('speak').disabled = true;
  setStatus(status, 'Speaking…');
  // Created on the click, so the browser lets it play.
  const context = new AudioContext();
  const started = performance.now();
  try {
    const response = await api('/v1/audio/speech', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        model: $('tts-model').value,
        voice: $('voice').value || undefined,
        input: $('text').value,
        response_format: 'pcm',
        stream_format: 'audio',
      }),
    });
    const sampleRate = Number(response.headers.get('X-Sample-Rate')) || 24000;
    const reader = response.body.getReader();
    const chunks = [];
    let carry = new Uint8Array(0);
    let playAt = context.currentTime + 0.05;
    let seconds = 0;
    let firstSound;
    const ended = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      // Samples are two bytes: keep an odd byte for the next chunk.
      const bytes = new Uint8Array(carry.length + value.length);
      bytes.set(carry);
      bytes.set(value, carry.length);
      const usable = bytes.length - (bytes.length % 2);
      carry = bytes.slice(usable);
      if (usable === 0) continue;
      const pcm = bytes.slice(0, usable);
      chunks.push(pcm);
      const view = new DataView(pcm.buffer);
      const samples = new Float32Array(usable / 2);
      for (let index = 0; index < samples.length; index++) samples[index] = view.getInt16(index * 2, true) / 32768;
      const buffer = context.createBuffer(1, samples.length, sampleRate);
      buffer.copyToChannel(samples, 0);
      const source = context.createBufferSource();
      source.buffer = buffer;
      source.connect(context.destination);
      playAt = Math.max(playAt, context.currentTime);
      source.start(playAt);
      playAt += buffer.duration;
      seconds += buffer.duration;
      ended.push(new Promise((resolve) => (source.onended = resolve)));
      firstSound ??= performance.now() - started;
      setStatus(status, `Playing… ${seconds.toFixed(1)} s received, first sound after ${Math.round(firstSound)} ms.`);
    }
    const replay = $('replay');
    replay.src = URL.createObjectURL(wavFile(chunks, sampleRate));
    replay.hidden = false;
    await Promise.all(ended);
    setStatus(status, `Played ${seconds.toFixed(1)} s of audio (first sound after ${Math.round(firstSound ?? 0)} ms).`);
  } catch (error) {
    if (error.message !== 'unauthorized') setStatus(status, error.message, true);
  } finally {
    await context.close();
    updateButtons();
  }
}

// ---------------------------------------------------------------------------------------

function start() {
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
    $('token').value = '';
    loadCatalog().catch((error) => error.message !== 'unauthorized' && setStatus($('connection'), error.message, true));
  });
  $('tts-model').addEventListener('change', () => {
    fillVoices();
    updateButtons();
  });
  $('asr-model').addEventListener('change', updateButtons);
  $('audio-file').addEventListener('change', () => {
    state.recorded = undefined;
    setStatus($('record-status'), '');
    updateButtons();
  });
  $('transcribe').addEventListener('click', transcribe);
  $('speak').addEventListener('click', speak);
  if (navigator.mediaDevices?.getUserMedia && window.MediaRecorder) {
    $('record').addEventListener('click', toggleRecording);
  } else {
    $('record').disabled = true;
    setStatus($('record-status'), 'Recording needs https or localhost.');
  }
  loadCatalog().catch((error) => error.message !== 'unauthorized' && setStatus($('connection'), error.message, true));
}

start();
