/**
 * Which IP addresses a URL download may not connect to when
 * `TALKIES_BLOCK_PRIVATE_DOWNLOADS=true`: everything that is not globally routable
 * unicast. IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are
 * judged by the IPv4 address inside, so `::ffff:127.0.0.1` is loopback.
 */
import { isIP } from 'node:net';

const IPV4_RULES: [base: string, bits: number, reason: string][] = [
  ['0.0.0.0', 8, 'unspecified ("this network")'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT (shared address space)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved (IETF protocol assignments)'],
  ['192.0.2.0', 24, 'reserved (documentation)'],
  ['192.88.99.0', 24, 'reserved (6to4 relay anycast)'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'reserved (benchmarking)'],
  ['198.51.100.0', 24, 'reserved (documentation)'],
  ['203.0.113.0', 24, 'reserved (documentation)'],
  ['224.0.0.0', 4, 'multicast'],
  ['255.255.255.255', 32, 'broadcast'],
  ['240.0.0.0', 4, 'reserved'],
];

const IPV6_RULES: [base: string, bits: number, reason: string][] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['64:ff9b:1::', 48, 'private (local-use NAT64)'],
  ['100::', 64, 'reserved (discard-only)'],
  ['2001:db8::', 32, 'reserved (documentation)'],
  ['2001::', 23, 'reserved (IETF protocol assignments, Teredo)'],
  ['fc00::', 7, 'private (unique local)'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'private (site-local)'],
  ['ff00::', 8, 'multicast'],
];

function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

function parseIpv6(text: string): bigint | undefined {
  let address = text.split('%')[0]!.toLowerCase();
  const lastColon = address.lastIndexOf(':');
  const tail = address.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = parseIpv4(tail);
    if (v4 === undefined) return undefined;
    address = `${address.slice(0, lastColon + 1)}${Math.floor(v4 / 65536).toString(16)}:${(v4 % 65536).toString(16)}`;
  }
  const halves = address.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...Array<string>(missing).fill('0'), ...rest];
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-f]{1,4}$/.test(group)) return undefined;
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  return value;
}

const IPV4_PARSED = IPV4_RULES.map(([base, bits, reason]) => ({ base: parseIpv4(base)!, bits, reason }));
const IPV6_PARSED = IPV6_RULES.map(([base, bits, reason]) => ({ base: parseIpv6(base)!, bits: BigInt(bits), reason }));

const MAPPED = parseIpv6('::ffff:0:0')!;
const NAT64 = parseIpv6('64:ff9b::')!;
const SIX_TO_FOUR = parseIpv6('2002::')!;
const GLOBAL_UNICAST = parseIpv6('2000::')!;

function ipv4Reason(value: number): string | undefined {
  for (const rule of IPV4_PARSED) {
    const size = 2 ** (32 - rule.bits);
    if (Math.floor(value / size) === Math.floor(rule.base / size)) return rule.reason;
  }
  return undefined;
}

function inPrefix(value: bigint, base: bigint, bits: bigint): boolean {
  return value >> (128n - bits) === base >> (128n - bits);
}

function ipv6Reason(value: bigint): string | undefined {
  const low32 = Number(value & 0xffffffffn);
  for (const rule of IPV6_PARSED) if (inPrefix(value, rule.base, rule.bits)) return rule.reason;
  // IPv6 forms that carry an IPv4 address are as good or bad as that address.
  if (inPrefix(value, MAPPED, 96n)) return embedded('IPv4-mapped', low32);
  if (inPrefix(value, 0n, 96n)) return embedded('IPv4-compatible', low32);
  if (inPrefix(value, NAT64, 96n)) return embedded('NAT64', low32);
  if (inPrefix(value, SIX_TO_FOUR, 16n)) return embedded('6to4', Number((value >> 80n) & 0xffffffffn));
  if (!inPrefix(value, GLOBAL_UNICAST, 3n)) return 'reserved (not global unicast)';
  return undefined;
}

function embedded(kind: string, v4: number): string | undefined {
  const reason = ipv4Reason(v4);
  return reason && `${kind} ${reason}`;
}

/**
 * Why a download may not connect to `address` (e.g. `'loopback'`, `'private'`,
 * `'IPv4-mapped link-local'`), or undefined when it is public. Anything that is not a
 * valid IP address is refused.
 */
export function blockedAddressReason(address: string): string | undefined {
  const family = isIP(address.split('%')[0]!);
  if (family === 4) return ipv4Reason(parseIpv4(address)!);
  if (family === 6) {
    const value = parseIpv6(address);
    return value === undefined ? 'not an IP address' : ipv6Reason(value);
  }
  return 'not an IP address';
}
