import { describe, expect, it } from 'vitest'
import { chinaDay, chinaTime, lastDays, permille, yuan } from '../src/format'

describe('money', () => {
  it('shows fen as yuan with two decimals and thousands separators', () => {
    expect(yuan(0)).toBe('¥0.00')
    expect(yuan(5)).toBe('¥0.05')
    expect(yuan(123450)).toBe('¥1,234.50')
    expect(yuan(100_000_000_00)).toBe('¥100,000,000.00')
    expect(yuan(-1999)).toBe('-¥19.99')
  })

  it('refuses to guess at what is not a whole number of fen', () => {
    expect(yuan(12.5)).toBe('—')
    expect(yuan(Number.NaN)).toBe('—')
  })
})

describe('time', () => {
  it('is China time whatever the browser says', () => {
    // 2026-12-03 12:30 UTC is 20:30 in Beijing
    expect(chinaTime(Date.UTC(2026, 11, 3, 12, 30) / 1000)).toBe('2026-12-03 20:30')
    // 16:00 UTC is already the next China day
    expect(chinaDay(new Date(Date.UTC(2026, 11, 3, 16, 0)))).toBe('2026-12-04')
  })

  it('counts report ranges in China days', () => {
    const now = new Date(Date.UTC(2026, 11, 3, 17, 0)) // 01:00 on the 4th in China
    expect(lastDays(1, now)).toEqual({ from: '2026-12-04', to: '2026-12-04' })
    expect(lastDays(7, now)).toEqual({ from: '2026-11-28', to: '2026-12-04' })
  })

  it('writes conversion from permille', () => {
    expect(permille(125)).toBe('12.5%')
    expect(permille(1000)).toBe('100.0%')
    expect(permille(null)).toBe('—')
  })
})
