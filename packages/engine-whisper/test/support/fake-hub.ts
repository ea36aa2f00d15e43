/** The loopback fake hub now lives in @talkies/hub (shared with the Kokoro engine's tests). */
export { startFakeHub, type FakeHub, type FakeHubOptions } from '@talkies/testkit';
