/*
 * A stand-in for libparakeet, written for the engine's tests: it implements the
 * published C API (parakeet_capi.h) at the ABI version chosen with -DSTANDIN_ABI=N,
 * with deterministic outputs instead of a neural network.
 *
 *   - load() reads a real GGUF header. general.architecture "nemotron" makes a
 *     prompt-conditioned (multilingual) model, "parakeet.streaming" = 1 a cache-aware
 *     streaming one, "standin.delay_ms" makes every transcription take that long.
 *   - Recognition: 80 ms frames; a run of frames with RMS > 0.02 is one word, named
 *     from a fixed list by its index; confidence comes from the run's peak RMS.
 *   - A prompt model in "auto" appends a language tag (<en-us>) to the text and the
 *     last word, as Nemotron does; a pinned locale gives no tag; an unknown one fails.
 *   - A clip with a non-finite sample fails (NULL + last_error).
 *   - Streaming: 0.64 s chunks; a word is final when its run ends; 4 silent frames
 *     after speech end the utterance (<EOU>), or a backchannel (<EOB>) when the
 *     utterance was one word of at most 3 frames.
 *
 * It also counts what a binding can get wrong, read back through standin_* functions:
 * strings alive and freed twice (or never returned), calls in flight at once, one
 * stream used from two threads at once or from a thread other than the one that began
 * it, contexts freed while streams are open.
 *
 * Options: -DSTANDIN_ABI=N (default 10); -DSTANDIN_NO_JSON_LANG leaves out
 * transcribe_pcm_batch_json_lang (an early v3 build). set_concurrency and load_error
 * exist from ABI 10 on here (the real library added them without an ABI bump).
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef STANDIN_ABI
#define STANDIN_ABI 10
#endif

#define API __attribute__((visibility("default")))
#define FRAME_SECONDS 0.08
#define VOICED_RMS 0.02f
#define CHUNK_FRAMES 8
#define EOU_SILENT_FRAMES 4
#define MAX_LIVE 4096

static const char *WORDS[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
                              "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa"};
#define WORD_COUNT (sizeof(WORDS) / sizeof(WORDS[0]))
static const char *LOCALES[] = {"auto", "en", "es", "de", "fr", "it", "ar", "ja", "ko", "pt", "ru", "hi",
                                "zh", "vi", "he", "nl", "cs", "da", "pl", "no", "sv", "th", "tr", "bg"};
#define LOCALE_COUNT (sizeof(LOCALES) / sizeof(LOCALES[0]))

/* ---- bookkeeping ------------------------------------------------------------ */
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static void *live_strings[MAX_LIVE];
static int live_count, bad_frees, in_flight, max_in_flight, transcribe_calls, stream_races, stream_thread_switches, live_streams, contexts_freed_with_streams;

API int standin_live_strings(void) { return live_count; }
API int standin_bad_frees(void) { return bad_frees; }
API int standin_max_in_flight(void) { return max_in_flight; }
API int standin_transcribe_calls(void) { return transcribe_calls; }
API int standin_stream_races(void) { return stream_races; }
API int standin_stream_thread_switches(void) { return stream_thread_switches; }
API int standin_live_streams(void) { return live_streams; }
API int standin_contexts_freed_with_streams(void) { return contexts_freed_with_streams; }
API void standin_reset_stats(void) {
  pthread_mutex_lock(&stats_lock);
  bad_frees = 0; max_in_flight = 0; stream_races = 0; stream_thread_switches = 0; contexts_freed_with_streams = 0;
  pthread_mutex_unlock(&stats_lock);
}

static char *give(char *s) {
  pthread_mutex_lock(&stats_lock);
  if (live_count < MAX_LIVE) live_strings[live_count++] = s;
  pthread_mutex_unlock(&stats_lock);
  return s;
}

API void parakeet_capi_free_string(char *s) {
  if (!s) return;
  pthread_mutex_lock(&stats_lock);
  for (int i = 0; i < live_count; i++) {
    if (live_strings[i] == s) {
      live_strings[i] = live_strings[--live_count];
      pthread_mutex_unlock(&stats_lock);
      free(s);
      return;
    }
  }
  bad_frees++; /* freed twice, or never ours: do not touch it */
  pthread_mutex_unlock(&stats_lock);
}

/* A growable string. */
typedef struct { char *data; size_t length, capacity; } text;
static void put(text *t, const char *format, ...) {
  va_list args;
  for (;;) {
    size_t room = t->capacity - t->length;
    va_start(args, format);
    int n = vsnprintf(t->data ? t->data + t->length : NULL, t->data ? room : 0, format, args);
    va_end(args);
    if (n < 0) return;
    if (t->data && (size_t)n < room) { t->length += (size_t)n; return; }
    t->capacity = (t->capacity + (size_t)n + 64) * 2;
    t->data = realloc(t->data, t->capacity);
  }
}
static char *finish(text *t) {
  if (!t->data) put(t, "%s", "");
  return give(t->data);
}

/* ---- contexts ------------------------------------------------------------------ */
typedef struct parakeet_ctx {
  int prompt_model, streaming, delay_ms, backends, busy, streams;
  pthread_mutex_t lock;
  pthread_cond_t free_backend;
  char error[512];
  char error_out[512];
} parakeet_ctx;

static void set_error(parakeet_ctx *ctx, const char *format, ...) {
  if (!ctx) return;
  pthread_mutex_lock(&ctx->lock);
  va_list args;
  va_start(args, format);
  vsnprintf(ctx->error, sizeof ctx->error, format, args);
  va_end(args);
  pthread_mutex_unlock(&ctx->lock);
}
static void clear_error(parakeet_ctx *ctx) {
  pthread_mutex_lock(&ctx->lock);
  ctx->error[0] = 0;
  pthread_mutex_unlock(&ctx->lock);
}

API int parakeet_capi_abi_version(void) { return STANDIN_ABI; }

API const char *parakeet_capi_last_error(parakeet_ctx *ctx) {
  if (!ctx) return "";
  pthread_mutex_lock(&ctx->lock);
  memcpy(ctx->error_out, ctx->error, sizeof ctx->error_out);
  pthread_mutex_unlock(&ctx->lock);
  return ctx->error_out;
}

#if STANDIN_ABI >= 10
static __thread char load_error[512];
API const char *parakeet_capi_load_error(void) { return load_error; }
#define LOAD_FAIL(...) snprintf(load_error, sizeof load_error, __VA_ARGS__)
#else
#define LOAD_FAIL(...) ((void)0)
#endif

/* Reads the key/value section of a GGUF file (v2/v3). */
static int read_exact(FILE *f, void *out, size_t n) { return fread(out, 1, n, f) == n; }
static int read_string(FILE *f, char *out, size_t room) {
  uint64_t n;
  if (!read_exact(f, &n, 8) || n > (1u << 20)) return 0;
  size_t keep = n < room - 1 ? (size_t)n : room - 1;
  if (!read_exact(f, out, keep)) return 0;
  out[keep] = 0;
  return fseek(f, (long)(n - keep), SEEK_CUR) == 0;
}
static size_t scalar_size(uint32_t type) {
  switch (type) {
    case 0: case 1: case 7: return 1;
    case 2: case 3: return 2;
    case 4: case 5: case 6: return 4;
    case 10: case 11: case 12: return 8;
    default: return 0;
  }
}
static int skip_value(FILE *f, uint32_t type, long long *number, char *string, size_t room) {
  if (type == 8) return read_string(f, string, room);
  if (type == 9) {
    uint32_t inner; uint64_t count; char ignored[8];
    if (!read_exact(f, &inner, 4) || !read_exact(f, &count, 8)) return 0;
    for (uint64_t i = 0; i < count; i++) if (!skip_value(f, inner, NULL, ignored, sizeof ignored)) return 0;
    return 1;
  }
  size_t size = scalar_size(type);
  if (!size) return 0;
  unsigned char raw[8] = {0};
  if (!read_exact(f, raw, size)) return 0;
  if (number) {
    if (type == 6) { float v; memcpy(&v, raw, 4); *number = (long long)v; }
    else if (size == 1) *number = raw[0];
    else if (size == 2) { uint16_t v; memcpy(&v, raw, 2); *number = v; }
    else if (size == 4) { int32_t v; memcpy(&v, raw, 4); *number = v; }
    else { int64_t v; memcpy(&v, raw, 8); *number = v; }
  }
  return 1;
}

API parakeet_ctx *parakeet_capi_load(const char *path) {
  FILE *f = path ? fopen(path, "rb") : NULL;
  if (!f) { LOAD_FAIL("cannot open '%s'", path ? path : "(null)"); return NULL; }
  char magic[4]; uint32_t version; uint64_t tensors, kvs;
  if (!read_exact(f, magic, 4) || memcmp(magic, "GGUF", 4) != 0 || !read_exact(f, &version, 4) ||
      !read_exact(f, &tensors, 8) || !read_exact(f, &kvs, 8)) {
    fclose(f);
    LOAD_FAIL("'%s' is not a GGUF file", path);
    return NULL;
  }
  parakeet_ctx *ctx = calloc(1, sizeof *ctx);
  pthread_mutex_init(&ctx->lock, NULL);
  pthread_cond_init(&ctx->free_backend, NULL);
  ctx->backends = 1;
  int has_arch = 0;
  for (uint64_t i = 0; i < kvs; i++) {
    char key[256], string[256] = {0};
    uint32_t type; long long number = 0;
    if (!read_string(f, key, sizeof key) || !read_exact(f, &type, 4) || !skip_value(f, type, &number, string, sizeof string)) {
      fclose(f); free(ctx);
      LOAD_FAIL("'%s': truncated GGUF header", path);
      return NULL;
    }
    if (!strcmp(key, "general.architecture")) { has_arch = 1; ctx->prompt_model = !strcmp(string, "nemotron"); }
    else if (!strcmp(key, "parakeet.streaming")) ctx->streaming = number != 0;
    else if (!strcmp(key, "standin.delay_ms")) ctx->delay_ms = (int)number;
  }
  fclose(f);
  if (!has_arch) { free(ctx); LOAD_FAIL("'%s' has no general.architecture", path); return NULL; }
  return ctx;
}

API void parakeet_capi_free(parakeet_ctx *ctx) {
  if (!ctx) return;
  if (ctx->streams > 0) {
    pthread_mutex_lock(&stats_lock);
    contexts_freed_with_streams++;
    pthread_mutex_unlock(&stats_lock);
  }
  pthread_mutex_destroy(&ctx->lock);
  pthread_cond_destroy(&ctx->free_backend);
  free(ctx);
}

#if STANDIN_ABI >= 10
API int parakeet_capi_set_concurrency(parakeet_ctx *ctx, int backends, int threads_each) {
  (void)threads_each;
  if (!ctx) return 0;
  pthread_mutex_lock(&ctx->lock);
  ctx->backends = backends <= 1 ? 1 : backends;
  int effective = ctx->backends;
  pthread_mutex_unlock(&ctx->lock);
  return effective;
}
#endif

/* A call borrows one backend for its whole duration; others wait, as in the real library. */
static void begin_call(parakeet_ctx *ctx) {
  pthread_mutex_lock(&ctx->lock);
  while (ctx->busy >= ctx->backends) pthread_cond_wait(&ctx->free_backend, &ctx->lock);
  ctx->busy++;
  pthread_mutex_unlock(&ctx->lock);
  pthread_mutex_lock(&stats_lock);
  transcribe_calls++;
  if (++in_flight > max_in_flight) max_in_flight = in_flight;
  pthread_mutex_unlock(&stats_lock);
  if (ctx->delay_ms > 0) {
    struct timespec pause = {ctx->delay_ms / 1000, (long)(ctx->delay_ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
  }
}
static void end_call(parakeet_ctx *ctx) {
  pthread_mutex_lock(&stats_lock);
  in_flight--;
  pthread_mutex_unlock(&stats_lock);
  pthread_mutex_lock(&ctx->lock);
  ctx->busy--;
  pthread_cond_signal(&ctx->free_backend);
  pthread_mutex_unlock(&ctx->lock);
}

/* ---- recognition ----------------------------------------------------------------- */
typedef struct { int index, first_frame, frames; float peak; } word;
typedef struct { word *items; int count; } word_list;

static float frame_rms(const float *samples, int n) {
  double sum = 0;
  for (int i = 0; i < n; i++) sum += (double)samples[i] * samples[i];
  return n > 0 ? (float)sqrt(sum / n) : 0.0f;
}

/* Words of a clip; -1 when a sample is not finite. */
static int recognise(const float *samples, int n, int sample_rate, word_list *out) {
  for (int i = 0; i < n; i++) if (!isfinite(samples[i])) return -1;
  int frame = (int)(sample_rate * FRAME_SECONDS);
  if (frame < 1) frame = 1;
  out->items = NULL; out->count = 0;
  int open = 0;
  for (int start = 0, index = 0; start < n; start += frame, index++) {
    int length = n - start < frame ? n - start : frame;
    float rms = frame_rms(samples + start, length);
    if (rms > VOICED_RMS) {
      if (!open) {
        out->items = realloc(out->items, sizeof(word) * (size_t)(out->count + 1));
        out->items[out->count] = (word){out->count, index, 0, 0};
        out->count++;
        open = 1;
      }
      word *w = &out->items[out->count - 1];
      w->frames++;
      if (rms > w->peak) w->peak = rms;
    } else {
      open = 0;
    }
  }
  return 0;
}

static double confidence(float peak) {
  double c = 0.5 + 0.49 * (peak > 1 ? 1 : peak);
  return round(c * 10000) / 10000;
}

static int known_locale(const char *lang) {
  for (size_t i = 0; i < LOCALE_COUNT; i++) if (!strcmp(lang, LOCALES[i])) return 1;
  return 0;
}
/* 1: a tag is appended; 0: none; -1: unknown locale (error set). */
static int language_tag(parakeet_ctx *ctx, const char *lang) {
  if (!ctx->prompt_model) return 0;
  if (!lang || !*lang || !strcmp(lang, "auto")) return 1;
  if (!known_locale(lang)) {
    set_error(ctx, "unknown target language '%s'; this model knows auto, en, es, de, fr, it, ar, ja, ko, pt, ru, hi, zh, vi, he, nl, cs, da, pl, no, sv, th, tr, bg", lang);
    return -1;
  }
  return 0;
}

static void put_text(text *t, const word_list *words, int tag) {
  for (int i = 0; i < words->count; i++) put(t, "%s%s", i ? " " : "", WORDS[words->items[i].index % WORD_COUNT]);
  if (tag && words->count) put(t, "%s", "<en-us>");
}

static void put_json(text *t, const word_list *words, int tag) {
  put(t, "{\"text\":\"");
  put_text(t, words, tag);
  put(t, "\"");
#if STANDIN_ABI >= 4
  put(t, ",\"frame_sec\":%.6f", FRAME_SECONDS);
#endif
  put(t, ",\"words\":[");
  for (int i = 0; i < words->count; i++) {
    const word *w = &words->items[i];
    put(t, "%s{\"w\":\"%s%s\",\"start\":%.3f,\"end\":%.3f,\"conf\":%.4f}", i ? "," : "", WORDS[w->index % WORD_COUNT],
        tag && i == words->count - 1 ? "<en-us>" : "", w->first_frame * FRAME_SECONDS, (w->first_frame + w->frames) * FRAME_SECONDS,
        confidence(w->peak));
  }
  put(t, "],\"tokens\":[");
  for (int i = 0; i < words->count; i++) {
    const word *w = &words->items[i];
    put(t, "%s{\"id\":%d,\"t\":%.3f,\"conf\":%.4f}", i ? "," : "", 100 + w->index, w->first_frame * FRAME_SECONDS, confidence(w->peak));
  }
  put(t, "]}");
}

static int check_decoder(parakeet_ctx *ctx, int decoder) {
  if (decoder < 0 || decoder > 2) { set_error(ctx, "decoder must be 0 (default), 1 (ctc) or 2 (tdt/rnnt), got %d", decoder); return 0; }
  return 1;
}

static char *transcribe(parakeet_ctx *ctx, const float *samples, int n, int sample_rate, int decoder, const char *lang, int json) {
  if (!ctx) return NULL;
  if (!samples || n < 0 || sample_rate <= 0) { set_error(ctx, "invalid samples buffer"); return NULL; }
  if (!check_decoder(ctx, decoder)) return NULL;
  int tag = language_tag(ctx, lang);
  if (tag < 0) return NULL;
  begin_call(ctx);
  word_list words;
  int failed = recognise(samples, n, sample_rate, &words);
  end_call(ctx);
  if (failed) { set_error(ctx, "input contains non-finite samples"); return NULL; }
  clear_error(ctx);
  text t = {0};
  if (json) put_json(&t, &words, tag); else put_text(&t, &words, tag);
  free(words.items);
  return finish(&t);
}

/* Reads a 16-bit PCM mono WAV (the path entry points). */
static float *read_wav(parakeet_ctx *ctx, const char *path, int *n, int *rate) {
  FILE *f = path ? fopen(path, "rb") : NULL;
  if (!f) { set_error(ctx, "cannot open '%s'", path ? path : "(null)"); return NULL; }
  unsigned char header[44];
  if (fread(header, 1, 44, f) != 44 || memcmp(header, "RIFF", 4) || memcmp(header + 8, "WAVE", 4)) {
    fclose(f); set_error(ctx, "'%s' is not a WAV file", path); return NULL;
  }
  memcpy(rate, header + 24, 4);
  uint32_t bytes; memcpy(&bytes, header + 40, 4);
  *n = (int)(bytes / 2);
  float *samples = malloc(sizeof(float) * (size_t)(*n ? *n : 1));
  for (int i = 0; i < *n; i++) {
    int16_t v;
    if (fread(&v, 2, 1, f) != 1) { *n = i; break; }
    samples[i] = v / 32768.0f;
  }
  fclose(f);
  return samples;
}
static char *transcribe_path(parakeet_ctx *ctx, const char *path, int decoder, const char *lang, int json) {
  if (!ctx) return NULL;
  int n = 0, rate = 16000;
  float *samples = read_wav(ctx, path, &n, &rate);
  if (!samples) return NULL;
  char *out = transcribe(ctx, samples, n, rate, decoder, lang, json);
  free(samples);
  return out;
}

API char *parakeet_capi_transcribe_path(parakeet_ctx *ctx, const char *path, int decoder) { return transcribe_path(ctx, path, decoder, NULL, 0); }
API char *parakeet_capi_transcribe_path_json(parakeet_ctx *ctx, const char *path, int decoder) { return transcribe_path(ctx, path, decoder, NULL, 1); }
API char *parakeet_capi_transcribe_pcm(parakeet_ctx *ctx, const float *samples, int n, int rate, int decoder) {
  return transcribe(ctx, samples, n, rate, decoder, NULL, 0);
}
#if STANDIN_ABI >= 3
API char *parakeet_capi_transcribe_path_lang(parakeet_ctx *ctx, const char *path, int decoder, const char *lang) {
  return transcribe_path(ctx, path, decoder, lang, 0);
}
API char *parakeet_capi_transcribe_pcm_lang(parakeet_ctx *ctx, const float *samples, int n, int rate, int decoder, const char *lang) {
  return transcribe(ctx, samples, n, rate, decoder, lang, 0);
}
#endif

static char *batch_json(parakeet_ctx *ctx, const float *concat, const int *lengths, int clips, int rate, int decoder, const char *lang) {
  if (!ctx) return NULL;
  if (!concat || !lengths || clips < 1) { set_error(ctx, "invalid batch"); return NULL; }
  text t = {0};
  put(&t, "[");
  long offset = 0;
  for (int i = 0; i < clips; i++) {
    char *one = transcribe(ctx, concat + offset, lengths[i], rate, decoder, lang, 1);
    if (!one) { free(t.data); return NULL; }
    put(&t, "%s%s", i ? "," : "", one);
    parakeet_capi_free_string(one);
    offset += lengths[i];
  }
  put(&t, "]");
  return finish(&t);
}
API char *parakeet_capi_transcribe_pcm_batch_json(parakeet_ctx *ctx, const float *concat, const int *lengths, int clips, int rate, int decoder) {
  return batch_json(ctx, concat, lengths, clips, rate, decoder, NULL);
}
#if STANDIN_ABI >= 3 && !defined(STANDIN_NO_JSON_LANG)
API char *parakeet_capi_transcribe_pcm_batch_json_lang(parakeet_ctx *ctx, const float *concat, const int *lengths, int clips, int rate,
                                                        int decoder, const char *lang) {
  return batch_json(ctx, concat, lengths, clips, rate, decoder, lang);
}
#endif

API int parakeet_capi_transcribe_pcm_batch(parakeet_ctx *ctx, const float *const *samples, const int *lengths, int clips, int rate, int decoder,
                                           char **out) {
  if (!ctx || !out) return 1;
  for (int i = 0; i < clips; i++) out[i] = NULL;
  for (int i = 0; i < clips; i++) {
    out[i] = transcribe(ctx, samples[i], lengths[i], rate, decoder, NULL, 0);
    if (!out[i]) {
      for (int j = 0; j < i; j++) { parakeet_capi_free_string(out[j]); out[j] = NULL; }
      return 1;
    }
  }
  return 0;
}

/* ---- streaming --------------------------------------------------------------------- */
#define PARAKEET_EVENT_EOU 1
#define PARAKEET_EVENT_EOB 2

typedef struct parakeet_stream_event { int token; int is_eob; int encoder_frame; float time_sec; } parakeet_stream_event;

typedef struct parakeet_stream {
  parakeet_ctx *ctx;
  int tag, finalized, in_use;
  pthread_t owner; /* the thread that began it */
  float *pending; int pending_count; /* samples of an incomplete chunk */
  int frame_index, open, words_total, utterance_words, utterance_frames, silent_frames, text_emitted;
  word current;
  parakeet_stream_event *events; int event_count; /* undrained */
} parakeet_stream;

static int enter(parakeet_stream *s) {
  pthread_mutex_lock(&stats_lock);
  int raced = s->in_use;
  if (raced) stream_races++;
  if (!pthread_equal(s->owner, pthread_self())) stream_thread_switches++;
  s->in_use = 1;
  pthread_mutex_unlock(&stats_lock);
  return !raced;
}
static void leave(parakeet_stream *s) {
  pthread_mutex_lock(&stats_lock);
  s->in_use = 0;
  pthread_mutex_unlock(&stats_lock);
}

static parakeet_stream *begin(parakeet_ctx *ctx, const char *lang) {
  if (!ctx) return NULL;
  if (!ctx->streaming) { set_error(ctx, "model is not a cache-aware streaming model"); return NULL; }
  int tag = language_tag(ctx, lang);
  if (tag < 0) return NULL;
  parakeet_stream *s = calloc(1, sizeof *s);
  s->ctx = ctx;
  s->tag = tag;
  s->owner = pthread_self();
  ctx->streams++;
  pthread_mutex_lock(&stats_lock);
  live_streams++;
  pthread_mutex_unlock(&stats_lock);
  clear_error(ctx);
  return s;
}
API parakeet_stream *parakeet_capi_stream_begin(parakeet_ctx *ctx) { return begin(ctx, NULL); }
#if STANDIN_ABI >= 3
API parakeet_stream *parakeet_capi_stream_begin_lang(parakeet_ctx *ctx, const char *lang) { return begin(ctx, lang); }
#endif

API void parakeet_capi_stream_free(parakeet_stream *s) {
  if (!s) return;
  s->ctx->streams--;
  pthread_mutex_lock(&stats_lock);
  if (!pthread_equal(s->owner, pthread_self())) stream_thread_switches++;
  live_streams--;
  pthread_mutex_unlock(&stats_lock);
  free(s->pending);
  free(s->events);
  free(s);
}

typedef struct { text words_json, plain; int mask, word_count; text events_json; } step_out;

static void add_event(parakeet_stream *s, step_out *o, int is_eob) {
  int frame = s->frame_index;
  s->events = realloc(s->events, sizeof(parakeet_stream_event) * (size_t)(s->event_count + 1));
  s->events[s->event_count++] = (parakeet_stream_event){is_eob ? 1025 : 1024, is_eob, frame, (float)(frame * FRAME_SECONDS)};
  o->mask |= is_eob ? PARAKEET_EVENT_EOB : PARAKEET_EVENT_EOU;
  put(&o->events_json, "%s{\"type\":\"%s\",\"frame\":%d,\"t\":%.3f}", o->events_json.length ? "," : "", is_eob ? "eob" : "eou", frame,
      frame * FRAME_SECONDS);
}

static void emit_word(parakeet_stream *s, step_out *o, const char *name, double start, double end, double conf) {
  put(&o->plain, "%s%s", s->text_emitted ? " " : "", name);
  s->text_emitted = 1;
  put(&o->words_json, "%s{\"w\":\"%s\",\"start\":%.3f,\"end\":%.3f,\"conf\":%.4f}", o->word_count ? "," : "", name, start, end, conf);
  o->word_count++;
}

static void close_word(parakeet_stream *s, step_out *o) {
  if (!s->open) return;
  word *w = &s->current;
  emit_word(s, o, WORDS[w->index % WORD_COUNT], w->first_frame * FRAME_SECONDS, (w->first_frame + w->frames) * FRAME_SECONDS, confidence(w->peak));
  s->utterance_words++;
  s->utterance_frames += w->frames;
  s->open = 0;
}

static void end_utterance(parakeet_stream *s, step_out *o) {
  if (s->utterance_words == 0) return;
  if (s->tag) emit_word(s, o, "<en-us>", s->frame_index * FRAME_SECONDS, s->frame_index * FRAME_SECONDS, 1.0);
  add_event(s, o, s->utterance_words == 1 && s->utterance_frames <= 3);
  s->utterance_words = 0;
  s->utterance_frames = 0;
}

static void process_frame(parakeet_stream *s, step_out *o, const float *samples, int n) {
  float rms = frame_rms(samples, n);
  if (rms > VOICED_RMS) {
    if (!s->open) { s->current = (word){s->words_total++, s->frame_index, 0, 0}; s->open = 1; }
    s->current.frames++;
    if (rms > s->current.peak) s->current.peak = rms;
    s->silent_frames = 0;
  } else {
    close_word(s, o);
    if (++s->silent_frames == EOU_SILENT_FRAMES) end_utterance(s, o);
  }
  s->frame_index++;
}

static int step(parakeet_stream *s, const float *pcm, int n, int flush, step_out *o) {
  memset(o, 0, sizeof *o);
  if (s->finalized) { set_error(s->ctx, "the stream is already finalized"); return 0; }
  if (n < 0 || (n > 0 && !pcm)) { set_error(s->ctx, "invalid samples buffer"); return 0; }
  for (int i = 0; i < n; i++) if (!isfinite(pcm[i])) { set_error(s->ctx, "input contains non-finite samples"); return 0; }
  const int frame = (int)(16000 * FRAME_SECONDS), chunk = frame * CHUNK_FRAMES;
  s->pending = realloc(s->pending, sizeof(float) * (size_t)(s->pending_count + n + 1));
  if (n) memcpy(s->pending + s->pending_count, pcm, sizeof(float) * (size_t)n);
  s->pending_count += n;
  int used = 0;
  while (s->pending_count - used >= chunk) {
    for (int f = 0; f < CHUNK_FRAMES; f++) process_frame(s, o, s->pending + used + f * frame, frame);
    used += chunk;
  }
  if (flush) {
    while (s->pending_count - used > 0) {
      int length = s->pending_count - used < frame ? s->pending_count - used : frame;
      process_frame(s, o, s->pending + used, length);
      used += length;
    }
    close_word(s, o);
    s->finalized = 1;
  }
  memmove(s->pending, s->pending + used, sizeof(float) * (size_t)(s->pending_count - used));
  s->pending_count -= used;
  clear_error(s->ctx);
  return 1;
}

static void release(step_out *o) { free(o->words_json.data); free(o->plain.data); free(o->events_json.data); }

static char *plain_result(parakeet_stream *s, step_out *o, int *eou_out) {
  if (eou_out) {
#if STANDIN_ABI >= 5
    *eou_out = o->mask;
#else
    *eou_out = o->mask ? 1 : 0;
#endif
  }
#if STANDIN_ABI < 5
  s->event_count = 0; /* no drain before v5 */
#else
  (void)s;
#endif
  text t = {0};
  put(&t, "%s", o->plain.data ? o->plain.data : "");
  release(o);
  return finish(&t);
}

API char *parakeet_capi_stream_feed(parakeet_stream *s, const float *pcm, int n, int *eou_out) {
  if (!s) return NULL;
  if (!enter(s)) return NULL;
  step_out o;
  char *out = step(s, pcm, n, 0, &o) ? plain_result(s, &o, eou_out) : (release(&o), NULL);
  leave(s);
  return out;
}
API char *parakeet_capi_stream_finalize(parakeet_stream *s) {
  if (!s) return NULL;
  if (!enter(s)) return NULL;
  step_out o;
  char *out = step(s, NULL, 0, 1, &o) ? plain_result(s, &o, NULL) : (release(&o), NULL);
  leave(s);
  return out;
}

#if STANDIN_ABI >= 4
static char *json_result(parakeet_stream *s, step_out *o) {
  text t = {0};
  put(&t, "{\"text\":\"%s\"", o->plain.data ? o->plain.data : "");
#if STANDIN_ABI >= 5
  put(&t, ",\"eou\":%d,\"eob\":%d", (o->mask & PARAKEET_EVENT_EOU) ? 1 : 0, (o->mask & PARAKEET_EVENT_EOB) ? 1 : 0);
#else
  put(&t, ",\"eou\":%d", o->mask ? 1 : 0);
#endif
  put(&t, ",\"frame_sec\":%.6f", FRAME_SECONDS);
#if STANDIN_ABI >= 5
  put(&t, ",\"events\":[%s]", o->events_json.data ? o->events_json.data : "");
#endif
  put(&t, ",\"words\":[%s]}", o->words_json.data ? o->words_json.data : "");
  s->event_count = 0; /* the JSON entry points drain the queue */
  release(o);
  return finish(&t);
}
API char *parakeet_capi_stream_feed_json(parakeet_stream *s, const float *pcm, int n) {
  if (!s) return NULL;
  if (!enter(s)) return NULL;
  step_out o;
  char *out = step(s, pcm, n, 0, &o) ? json_result(s, &o) : (release(&o), NULL);
  leave(s);
  return out;
}
API char *parakeet_capi_stream_finalize_json(parakeet_stream *s) {
  if (!s) return NULL;
  if (!enter(s)) return NULL;
  step_out o;
  char *out = step(s, NULL, 0, 1, &o) ? json_result(s, &o) : (release(&o), NULL);
  leave(s);
  return out;
}
#endif

#if STANDIN_ABI >= 5
API int parakeet_capi_stream_drain_events(parakeet_stream *s, parakeet_stream_event **out) {
  if (!s || !out) { if (out) *out = NULL; return -1; }
  int count = s->event_count;
  *out = count ? s->events : NULL;
  if (count) { s->events = NULL; s->event_count = 0; }
  return count;
}
API void parakeet_capi_free_events(parakeet_stream_event *events) { free(events); }
#endif
