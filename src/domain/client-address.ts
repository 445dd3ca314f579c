/**
 * Who a client is, for counting what it does (refused webhooks, failed logins): its address, or
 * for IPv6 its /64, since one host usually holds a whole /64; an IPv4 address mapped into IPv6 is
 * the IPv4 address. Anything that is no address is itself.
 */
import ipaddr from 'ipaddr.js';

export function clientAddress(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.process(address);
  return parsed.kind() === 'ipv6' ? `${(parsed as ipaddr.IPv6).parts.slice(0, 4).map((part) => part.toString(16)).join(':')}::/64` : parsed.toString();
}
