export { audioDirectory, hasShared, readJfk, readWav, sharedDirectory } from '@talkies/testkit';
