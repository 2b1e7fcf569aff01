import { describe, expect, it } from 'vitest';
import { clock, exact, relative } from './time';

describe('relative times', () => {
  const now = Date.UTC(2026, 10, 27, 12, 0, 0);
  it('says just now, then seconds, minutes, hours and days, past and future', () => {
    expect(relative(now - 2_000, now)).toBe('just now');
    expect(relative(now - 45_000, now)).toBe('45 s ago');
    expect(relative(now - 2 * 60_000, now)).toBe('2 min ago');
    expect(relative(now - 3 * 3_600_000, now)).toBe('3 h ago');
    expect(relative(now + 7 * 86_400_000, now)).toBe('in 7 d');
    expect(relative(now + 90_000, now)).toBe('in 1 min');
  });
  it('shows a dash for no time, and an exact time for hovering', () => {
    expect(relative(null, now)).toBe('—');
    expect(exact(null)).toBe('');
    expect(exact(now)).toMatch(/2026/);
  });
  it('formats countdowns', () => {
    expect(clock(0)).toBe('0:00');
    expect(clock(1_001)).toBe('0:02');
    expect(clock(299_000)).toBe('4:59');
    expect(clock(-5)).toBe('0:00');
  });
});
