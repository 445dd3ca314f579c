/**
 * Matches client addresses against the webhook IP allowlist. IPv4-mapped IPv6 addresses
 * (`::ffff:1.2.3.4`, what Node reports when it listens on `::`) are read as IPv4, and a range only
 * matches addresses of its own family (ipaddr.js throws on a mix).
 */
import ipaddr from 'ipaddr.js';

export interface IpAllowlist {
  contains(address: string): boolean;
}

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

export function createIpAllowlist(entries: readonly string[]): IpAllowlist {
  const ranges: Range[] = entries.map((entry) => {
    if (entry.includes('/')) return ipaddr.parseCIDR(entry);
    const address = ipaddr.process(entry);
    return [address, address.kind() === 'ipv4' ? 32 : 128];
  });
  return {
    contains(address) {
      if (!ipaddr.isValid(address)) return false;
      const parsed = ipaddr.process(address);
      return ranges.some(([range, bits]) => range.kind() === parsed.kind() && parsed.match(range, bits));
    },
  };
}
