import { describe, expect, it } from 'vitest';
import { createIpAllowlist, mappedRangeProblem } from './ip-allowlist.js';

describe('IP allowlist', () => {
  it('matches IPv4 and IPv6 addresses and ranges, a mapped client address as IPv4', () => {
    const list = createIpAllowlist(['203.0.113.0/24', '2001:db8::/32', '198.51.100.7']);
    for (const address of ['203.0.113.9', '::ffff:203.0.113.9', '2001:db8::1', '198.51.100.7', '::ffff:198.51.100.7']) {
      expect(list.contains(address), address).toBe(true);
    }
    for (const address of ['203.0.114.1', '2001:db9::1', '198.51.100.8', 'not an address']) expect(list.contains(address), address).toBe(false);
  });

  it('reads an IPv4-mapped range (prefix of 96 or more) as the IPv4 range it maps', () => {
    const list = createIpAllowlist(['::ffff:10.0.0.0/104', '::ffff:192.0.2.1', '::ffff:198.51.100.0/120']);
    for (const address of ['10.1.2.3', '::ffff:10.1.2.3', '192.0.2.1', '::ffff:192.0.2.1', '198.51.100.200', '::ffff:198.51.100.200']) {
      expect(list.contains(address), address).toBe(true);
    }
    for (const address of ['11.0.0.1', '::ffff:11.0.0.1', '192.0.2.2', '198.51.101.1', '::1']) expect(list.contains(address), address).toBe(false);
    expect(createIpAllowlist(['::ffff:0.0.0.0/96']).contains('8.8.8.8')).toBe(true);
  });

  it('refuses an IPv4-mapped range wider than the mapped block, which would span IPv6 addresses too', () => {
    expect(mappedRangeProblem('::ffff:10.0.0.0/104')).toBeUndefined();
    expect(mappedRangeProblem('10.0.0.0/8')).toBeUndefined();
    expect(mappedRangeProblem('2001:db8::/32')).toBeUndefined();
    expect(mappedRangeProblem('::ffff:0.0.0.0/95')).toMatch(/IPv4-mapped range with a prefix shorter than 96/);
    expect(() => createIpAllowlist(['::ffff:10.0.0.0/80'])).toThrow(/prefix shorter than 96/);
  });
});
