/**
 * Matches client addresses against the webhook IP allowlist. IPv4-mapped IPv6 addresses
 * (`::ffff:1.2.3.4`, what Node reports when it listens on `::`) are read as IPv4, in the list as
 * in the client's address, ranges too (`::ffff:10.0.0.0/104` is `10.0.0.0/8`); a range only
 * matches addresses of its own family (ipaddr.js throws on a mix).
 */
import ipaddr from 'ipaddr.js';

export interface IpAllowlist {
  contains(address: string): boolean;
}

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** The bits of `::ffff:0:0/96` that mark an IPv4-mapped address. */
const MAPPED_PREFIX = 96;

/**
 * Why an allowlist entry cannot be used, for config to report; undefined when it can (or when it
 * does not parse, which config reports on its own). An IPv4-mapped range shorter than /96 spans
 * IPv6 addresses as well as mapped ones, so it cannot be read as an IPv4 range.
 */
export function mappedRangeProblem(entry: string): string | undefined {
  if (!entry.includes('/') || !ipaddr.isValidCIDR(entry)) return undefined;
  const [address, bits] = ipaddr.parseCIDR(entry);
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() && bits < MAPPED_PREFIX) {
    return `"${entry}" is an IPv4-mapped range with a prefix shorter than ${MAPPED_PREFIX}, which would span IPv6 addresses too; write the IPv4 range (a.b.c.d/n) or a mapped prefix of ${MAPPED_PREFIX} or more`;
  }
  return undefined;
}

/** Throws for an entry that does not parse or that mappedRangeProblem refuses (config checks both first). */
export function createIpAllowlist(entries: readonly string[]): IpAllowlist {
  const ranges: Range[] = entries.map((entry) => {
    if (!entry.includes('/')) {
      const address = ipaddr.process(entry);
      return [address, address.kind() === 'ipv4' ? 32 : 128];
    }
    const problem = mappedRangeProblem(entry);
    if (problem) throw new Error(problem);
    const [address, bits] = ipaddr.parseCIDR(entry);
    if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
      return [(address as ipaddr.IPv6).toIPv4Address(), bits - MAPPED_PREFIX];
    }
    return [address, bits];
  });
  return {
    contains(address) {
      if (!ipaddr.isValid(address)) return false;
      const parsed = ipaddr.process(address);
      return ranges.some(([range, bits]) => range.kind() === parsed.kind() && parsed.match(range, bits));
    },
  };
}
