/**
 * The zeroconf (mDNS/DNS-SD) announcement of the Wyoming server, `_wyoming._tcp.local.`,
 * which is how Home Assistant discovers Wyoming services on its network.
 *
 * Announcing is best effort: a host without multicast (a container network, a locked-down
 * firewall) gets a logged warning and the server goes on without it; nothing here can
 * crash the process. A server bound to a loopback address is not announced: no other
 * host could connect to it. `TALKIES_WYOMING_ZEROCONF=false` turns the announcement off.
 *
 * bonjour-service (MIT, pure JavaScript over multicast-dns) is imported only when an
 * announcement is made.
 */
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import type { Logger } from 'pino';

/** The DNS-SD service type Home Assistant browses for. */
export const WYOMING_SERVICE_TYPE = 'wyoming';

export interface WyomingAnnouncement {
  /** Withdraw the announcement (a goodbye packet) and close the mDNS socket. */
  stop(): Promise<void>;
}

/** What bonjour-service's `publish` takes for the Wyoming service. */
export interface WyomingServiceConfig {
  name: string;
  type: string;
  protocol: 'tcp';
  port: number;
  /** Home Assistant needs no TXT records; the reference server sends none. */
  txt: Record<string, string>;
  disableIPv6: boolean;
}

/** The part of bonjour-service the announcement uses (an interface so tests can inject a failing one). */
export interface Responder {
  publish(config: WyomingServiceConfig): { on(event: 'error', listener: (error: Error) => void): unknown };
  unpublishAll(callback?: () => void): void;
  destroy(callback?: () => void): void;
}

export type ResponderFactory = (options: { interface?: string }, onError: (error: Error) => void) => Responder | Promise<Responder>;

/** The instance name: `talkies-<hostname>` (dots become dashes in DNS-SD instance names). */
export function wyomingInstanceName(host = hostname()): string {
  return `talkies-${host}`.replace(/\./g, '-');
}

/** The service this server publishes for a port. */
export function wyomingServiceConfig(port: number, name = wyomingInstanceName()): WyomingServiceConfig {
  return { name, type: WYOMING_SERVICE_TYPE, protocol: 'tcp', port, txt: {}, disableIPv6: false };
}

/** True for an address no other host can reach. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127\./.test(bare) || bare === '::ffff:127.0.0.1';
}

const bonjourResponder: ResponderFactory = async (options, onError) => {
  const { default: Bonjour } = await import('bonjour-service');
  // The options go to multicast-dns as they are (its `interface`), whatever bonjour-service's types say.
  const bonjour = new Bonjour(options as never, onError);
  // multicast-dns reports socket failures (no multicast route, port taken) as 'error'
  // events; unheard, they would throw.
  const mdns = (bonjour as unknown as { server: { mdns: { on(event: string, listener: (error: Error) => void): void } } }).server.mdns;
  mdns.on('error', onError);
  mdns.on('warning', onError);
  return bonjour as unknown as Responder;
};

export interface AnnounceOptions {
  /** The address the Wyoming server is bound to. */
  host: string;
  port: number;
  logger: Logger;
  name?: string;
  /** Tests inject a responder; production uses bonjour-service. */
  createResponder?: ResponderFactory;
}

const NOTHING: WyomingAnnouncement = { stop: async () => {} };

/** Announce the Wyoming server; never throws: a failure is a warning and a no-op handle. */
export async function announceWyoming(options: AnnounceOptions): Promise<WyomingAnnouncement> {
  const { host, port, logger } = options;
  if (isLoopbackHost(host)) {
    logger.info({ host }, 'wyoming: not announced over zeroconf, the server is bound to a loopback address (set TALKIES_HOST to reach it from Home Assistant)');
    return NOTHING;
  }
  const config = wyomingServiceConfig(port, options.name);
  let warned = false;
  const onError = (error: Error) => {
    if (warned) return;
    warned = true;
    logger.warn(
      { err: error, service: `${config.name}._wyoming._tcp.local.` },
      'wyoming: the zeroconf announcement failed (no multicast on this host?); add talkies to Home Assistant by host and port instead, or set TALKIES_WYOMING_ZEROCONF=false',
    );
  };
  let responder: Responder;
  try {
    // A specific IPv4 address also picks the interface the announcement goes out on.
    const onInterface = isIP(host) === 4 && host !== '0.0.0.0' ? { interface: host } : {};
    responder = await (options.createResponder ?? bonjourResponder)(onInterface, onError);
    responder.publish(config).on('error', onError);
  } catch (error) {
    onError(error as Error);
    return NOTHING;
  }
  logger.info({ service: `${config.name}._wyoming._tcp.local.`, port }, 'wyoming: announced over zeroconf');
  let stopping: Promise<void> | undefined;
  return {
    stop: () =>
      (stopping ??= new Promise<void>((resolve) => {
        // The goodbye may never be sent on a host without multicast: do not wait for it long.
        const timer = setTimeout(finish, 1000);
        timer.unref();
        let finished = false;
        function finish() {
          if (finished) return;
          finished = true;
          clearTimeout(timer);
          try {
            responder.destroy();
          } catch (error) {
            logger.debug({ err: error }, 'wyoming: closing the zeroconf responder failed');
          }
          resolve();
        }
        try {
          responder.unpublishAll(finish);
        } catch (error) {
          onError(error as Error);
          finish();
        }
      })),
  };
}
