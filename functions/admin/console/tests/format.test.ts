import { describe, expect, it } from 'vitest'
import { chinaDay, chinaTime, lastDays, parseYuan, permille, specsText, yuan, yuanDigits } from '../src/format'

describe('money', () => {
  it('shows fen as yuan with two decimals and thousands separators', () => {
    expect(yuan(0)).toBe('¥0.00')
    expect(yuan(5)).toBe('¥0.05')
    expect(yuan(123450)).toBe('¥1,234.50')
    expect(yuan(100_000_000_00)).toBe('¥100,000,000.00')
    expect(yuan(-1999)).toBe('-¥19.99')
  })

  it('writes a price for editing so that reading it back gives the same fen', () => {
    for (const fen of [0, 5, 10, 99, 100, 16800, 123456, 100_000_000]) {
      expect(parseYuan(yuanDigits(fen))).toBe(fen)
    }
    expect(yuanDigits(16800)).toBe('168.00')
    expect(yuanDigits(-1)).toBe('')
  })

  it('reads what a merchant types as yuan into fen without floating point', () => {
    expect(parseYuan('128')).toBe(12800)
    expect(parseYuan('0.1')).toBe(10)
    expect(parseYuan(' ¥1,280.05 ')).toBe(128005)
    // 0.29 * 100 is 28.999999999999996 in floating point
    expect(parseYuan('0.29')).toBe(29)
    for (const bad of ['', '-1', '1.234', 'abc', '1e3', '１２']) expect(parseYuan(bad)).toBeNull()
  })

  it('writes a SKU by its specs', () => {
    expect(specsText({ 规格: '250克', 颜色: '红' })).toBe('规格：250克，颜色：红')
    expect(specsText({})).toBe('')
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
