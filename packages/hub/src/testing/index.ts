export { startFakeHub, type FakeHub, type FakeHubOptions } from './fake-hub.js';
