/**
 * V8 settings the server process needs, applied when the CLI starts (imported first, so
 * before any of our code has run hot enough to be optimised).
 *
 * Maglev, V8's mid-tier compiler, miscompiles in Node 24.22.3 (V8 13.6.233.17): depending on
 * when its concurrent compile finishes, objects made by one object literal can end up
 * sharing the boxes of their fractional-number fields, so an object made earlier reads the
 * numbers of one made later. In talkies that showed as segment times of one piece of audio
 * appearing on another (found by core's request-batcher test under load: 16 of 300 fresh
 * processes failed with Maglev, 0 of 300 without). Turning Maglev off leaves V8's
 * interpreter, baseline and top-tier (TurboFan) compilers; the test suite runs with
 * `--no-maglev` too. `TALKIES_V8_MAGLEV=on` keeps Maglev (for a Node whose V8 is fixed).
 */
import v8 from 'node:v8';

if ((process.env.TALKIES_V8_MAGLEV ?? '').trim().toLowerCase() !== 'on') v8.setFlagsFromString('--no-maglev');
