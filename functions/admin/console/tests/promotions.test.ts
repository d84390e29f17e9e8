import { describe, expect, it } from 'vitest'
import { chinaInstant, chinaRfc3339, couponValueText, pointsPerYuan, scopeText, tiersText } from '../src/promotions'

describe('promotions as the merchant reads them', () => {
  it('says a coupon the way Chinese shops do', () => {
    expect(couponValueText({ kind: 'amountOff', off: 2000, minSpend: 9900 })).toBe('满 ¥99.00 减 ¥20.00')
    expect(couponValueText({ kind: 'amountOff', off: 500, minSpend: 0 })).toBe('无门槛 减 ¥5.00')
    // 10% off is 九折; 15% off is 8.5 折
    expect(couponValueText({ kind: 'percentOff', percent: 10, cap: 3000, minSpend: 0 })).toBe('无门槛 9 折（最多减 ¥30.00）')
    expect(couponValueText({ kind: 'percentOff', percent: 15, cap: 0, minSpend: 5900 })).toBe('满 ¥59.00 8.5 折')
  })

  it('says where a promotion applies and its tiers', () => {
    expect(scopeText({ kind: 'shop' })).toBe('全店')
    expect(scopeText({ kind: 'category', categoryId: 'green-tea' })).toBe('分类 green-tea')
    expect(scopeText({ kind: 'products', productIds: ['a', 'b'] })).toBe('商品 a、b')
    expect(
      tiersText([
        { threshold: 19900, off: 2000 },
        { threshold: 29900, off: 4000 },
      ]),
    ).toBe('满 ¥199.00 减 ¥20.00 / 满 ¥299.00 减 ¥40.00')
    expect(pointsPerYuan({ pointsPerUnit: 100, fenPerUnit: 100 })).toBe(100)
  })

  it('reads a typed time as China time whatever the browser zone', () => {
    // 2026-12-12 20:00 in Shanghai is 12:00 UTC
    expect(chinaInstant('2026-12-12 20:00')).toBe(Date.UTC(2026, 11, 12, 12, 0) / 1000)
    expect(chinaInstant('2026-12-12')).toBe(Date.UTC(2026, 11, 11, 16, 0) / 1000)
    expect(chinaInstant('12/12/2026')).toBeNull()
    expect(chinaRfc3339('2026-12-12 20:00')).toBe('2026-12-12T20:00:00+08:00')
    expect(chinaRfc3339('soon')).toBeNull()
  })
})
