/**
 * The voice catalog that Kokoro-82M v1.0 publishes (hexgrad/Kokoro-82M and its ONNX
 * exports), limited to the voices whose language espeak-ng can phonemise (en-US, en-GB,
 * es, fr, hi, it, pt-BR; the ja and zh voices need other G2P). The Backend contract lets
 * the server list and check voices before a model is loaded or even downloaded, so this
 * list answers until the snapshot is on disk; after that its own voice files do.
 */
export const PUBLISHED_VOICES: readonly string[] = [
  'af_heart', 'af_alloy', 'af_aoede', 'af_bella', 'af_jessica', 'af_kore', 'af_nicole', 'af_nova', 'af_river', 'af_sarah', 'af_sky',
  'am_adam', 'am_echo', 'am_eric', 'am_fenrir', 'am_liam', 'am_michael', 'am_onyx', 'am_puck', 'am_santa',
  'bf_alice', 'bf_emma', 'bf_isabella', 'bf_lily', 'bm_daniel', 'bm_fable', 'bm_george', 'bm_lewis',
  'ef_dora', 'em_alex', 'em_santa', 'ff_siwis', 'hf_alpha', 'hf_beta', 'hm_omega', 'hm_psi',
  'if_sara', 'im_nicola', 'pf_dora', 'pm_alex', 'pm_santa',
];
