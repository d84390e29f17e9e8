import { describe, expect, it } from 'vitest'
import {
  chanceText,
  chinaInstant,
  chinaRfc3339,
  couponValueText,
  lotteryPrizesFrom,
  type PrizeRow,
  pointsPerYuan,
  scopeText,
  taskFields,
  taskText,
  tiersText,
} from '../src/promotions'

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

describe('a lucky draw as the merchant sets it up', () => {
  const row = (over: Partial<PrizeRow>): PrizeRow => ({
    id: 'p',
    name: '奖品',
    kind: 'points',
    points: 10,
    template: '',
    skuId: '',
    quantity: '',
    weight: 1,
    ...over,
  })

  it('turns the editor rows into prizes, an empty quantity meaning no limit', () => {
    const prizes = lotteryPrizesFrom([
      row({ id: 'big', kind: 'points', points: 1000, quantity: '3' }),
      row({ id: 'coupon', kind: 'coupon', template: 'new-user', quantity: '20', weight: 5 }),
      row({ id: 'cup', kind: 'gift', skuId: ' teacup-1 ', quantity: '2' }),
      row({ id: 'thanks', kind: 'nothing', weight: 94 }),
    ])
    expect(prizes).toEqual([
      { id: 'big', name: '奖品', reward: { kind: 'points', points: 1000 }, quantity: 3, weight: 1 },
      { id: 'coupon', name: '奖品', reward: { kind: 'coupon', template: 'new-user' }, quantity: 20, weight: 5 },
      { id: 'cup', name: '奖品', reward: { kind: 'gift', skuId: 'teacup-1' }, quantity: 2, weight: 1 },
      { id: 'thanks', name: '奖品', reward: { kind: 'nothing' }, quantity: undefined, weight: 94 },
    ])
  })

  it('refuses rows the API would refuse, saying which one', () => {
    expect(lotteryPrizesFrom([row({ quantity: '2.5' }), row({ kind: 'nothing' })])).toMatch(/^第 1 个奖品/)
    expect(lotteryPrizesFrom([row({ kind: 'coupon' }), row({ kind: 'nothing' })])).toMatch(/请选择优惠券/)
    expect(lotteryPrizesFrom([row({ kind: 'gift', quantity: '1' }), row({ kind: 'nothing' })])).toMatch(/SKU/)
    expect(lotteryPrizesFrom([row({ kind: 'gift', skuId: 'teacup-1' }), row({ kind: 'nothing' })])).toMatch(/数量/)
    expect(lotteryPrizesFrom([row({ quantity: '1' }), row({ quantity: '5' })])).toMatch(/不限数量/)
  })

  it('says which chance a draw used', () => {
    expect(chanceText('free')).toBe('免费')
    expect(chanceText('friend')).toBe('好友助力')
    expect(chanceText({ points: { points: 50 } })).toBe('50 积分')
  })
})

describe('points tasks as the merchant sets and reads them', () => {
  it('asks only for the numbers a task has', () => {
    expect(taskFields('check-in')).toEqual({ points: false, dailyCap: false, seconds: false })
    expect(taskFields('view-product')).toEqual({ points: true, dailyCap: true, seconds: true })
    expect(taskFields('share-opened')).toEqual({ points: true, dailyCap: true, seconds: false })
    expect(taskFields('bind-phone')).toEqual({ points: true, dailyCap: false, seconds: false })
  })

  it('says what a task gives and how often', () => {
    const window = { startsAt: 0, endsAt: 1 }
    expect(taskText({ kind: 'view-product', title: '浏览商品', points: 5, dailyCap: 3, seconds: 15, ...window })).toBe(
      '5 积分 · 每天 3 次 · 浏览 15 秒',
    )
    expect(taskText({ kind: 'first-review', title: '首次晒单评价', points: 50, dailyCap: 1, ...window })).toBe(
      '50 积分 · 每人一次',
    )
    expect(taskText({ kind: 'check-in', title: '每日签到', points: 0, dailyCap: 1, ...window })).toBe(
      '积分按签到规则 · 每天 1 次',
    )
  })
})
