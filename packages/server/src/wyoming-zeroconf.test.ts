/**
 * The zeroconf announcement, without sending a packet: the records bonjour-service would
 * publish for the Wyoming service, and that a host without multicast gets a warning, not
 * a crash. (No test multicasts: the suite may touch nothing beyond loopback.)
 */
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import pino from 'pino';
import Bonjour from 'bonjour-service';
import { describe, expect, it } from 'vitest';
import { announceWyoming, isLoopbackHost, wyomingInstanceName, wyomingServiceConfig, type Responder } from './wyoming-zeroconf.js';

function recordingLogger(): { logger: pino.Logger; lines: Array<Record<string, any>> } {
  const lines: Array<Record<string, any>> = [];
  const sink = new Writable({
    write(chunk, _, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('wyoming zeroconf', () => {
  it('publishes _wyoming._tcp.local. with the port, an SRV target and no TXT entries, as Home Assistant browses for', () => {
    const config = wyomingServiceConfig(10300, wyomingInstanceName('living.room'));
    expect(config.name).toBe('talkies-living-room');
    // bonjour-service's own record builder, fed our config: what would go on the wire.
    const service = new Bonjour.Service(config as never, () => {}, () => {});
    const records = service.records();
    expect(records.find((record) => record.type === 'PTR' && record.name === '_wyoming._tcp.local')?.data).toBe('talkies-living-room._wyoming._tcp.local');
    const srv = records.find((record) => record.type === 'SRV');
    expect(srv?.name).toBe('talkies-living-room._wyoming._tcp.local');
    expect(srv?.data).toMatchObject({ port: 10300 });
    const txt = records.find((record) => record.type === 'TXT');
    expect(Buffer.concat(txt?.data as Buffer[]).length).toBeLessThanOrEqual(1);
    // Addresses come from the host's interfaces, never a loopback one.
    for (const record of records.filter((record) => record.type === 'A')) expect(isLoopbackHost(record.data as string)).toBe(false);
  });

  it('is not announced when the server is bound to loopback', async () => {
    const { logger, lines } = recordingLogger();
    let created = 0;
    const announcement = await announceWyoming({
      host: '127.0.0.1',
      port: 10300,
      logger,
      createResponder: () => {
        created += 1;
        throw new Error('not reached');
      },
    });
    await announcement.stop();
    expect(created).toBe(0);
    expect(lines.some((line) => /not announced over zeroconf.*loopback/.test(line.msg))).toBe(true);
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost']) expect(isLoopbackHost(host)).toBe(true);
    for (const host of ['0.0.0.0', '::', '192.0.2.10']) expect(isLoopbackHost(host)).toBe(false);
  });

  it('a responder that cannot start is a warning and a no-op, never a crash', async () => {
    const { logger, lines } = recordingLogger();
    const announcement = await announceWyoming({
      host: '0.0.0.0',
      port: 10300,
      logger,
      createResponder: () => {
        throw Object.assign(new Error('bind EACCES 0.0.0.0:5353'), { code: 'EACCES' });
      },
    });
    await announcement.stop();
    const warnings = lines.filter((line) => line.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toMatch(/zeroconf announcement failed.*host and port/);
    expect(warnings[0]!.err.message).toMatch(/EACCES/);
  });

  it('a socket error after publishing (no multicast route) is one warning; stop() withdraws and closes', async () => {
    const { logger, lines } = recordingLogger();
    const service = new EventEmitter();
    let reportError!: (error: Error) => void;
    const calls: string[] = [];
    const responder: Responder = {
      publish(config) {
        calls.push(`publish ${config.name}._${config.type}._${config.protocol}:${config.port}`);
        return service;
      },
      unpublishAll(callback) {
        calls.push('unpublish');
        callback?.();
      },
      destroy() {
        calls.push('destroy');
      },
    };
    const announcement = await announceWyoming({
      host: '192.0.2.10',
      port: 10300,
      name: 'kitchen',
      logger,
      createResponder: (options, onError) => {
        // A specific address is also the interface the announcement goes out on.
        expect(options).toEqual({ interface: '192.0.2.10' });
        reportError = onError;
        return responder;
      },
    });
    reportError(Object.assign(new Error('send ENETUNREACH 224.0.0.251:5353'), { code: 'ENETUNREACH' }));
    service.emit('error', new Error('again'));
    await settle();
    await announcement.stop();
    await announcement.stop();
    expect(calls).toEqual(['publish kitchen._wyoming._tcp:10300', 'unpublish', 'destroy']);
    expect(lines.filter((line) => line.level === 40)).toHaveLength(1);
  });
});
