// The shop's promotions as the admin API gives them, and how the console says them in Chinese.
// Amounts are fen; times are epoch seconds (China time when shown or typed).
import { yuan } from './format'

export type PromotionScope =
  | { kind: 'shop' }
  | { kind: 'category'; categoryId: string }
  | { kind: 'products'; productIds: string[] }

export type CouponValue =
  | { kind: 'amountOff'; off: number; minSpend: number }
  | { kind: 'percentOff'; percent: number; cap: number; minSpend: number }

export type CouponValidity = { kind: 'daysAfterClaim'; days: number } | { kind: 'dates'; from: number; until: number }

export interface CouponTemplate {
  id: string
  title: string
  value: CouponValue
  scope: PromotionScope
  validity: CouponValidity
  totalLimit: number
  perUserLimit: number
  claimUntil?: number
  /** Claimed so far: never written by staff. */
  issued?: number
}

export interface ReductionTier {
  threshold: number
  off: number
}

export interface FullReduction {
  id: string
  scope: PromotionScope
  tiers: ReductionTier[]
}

export interface PromotionRules {
  fullReductions: FullReduction[]
  points?: { pointsPerUnit: number; fenPerUnit: number; maxSharePercent: number }
  pointsEarnedPerYuan?: number
  invite?: { points: number; dailyCap: number; couponTemplate?: string }
  checkin?: { points: number; streakBonus: number; streakCap: number }
}

/** A SKU's own offers, as the staff catalog carries them. */
export interface SkuOffers {
  flashSale?: { startsAt: number; endsAt: number; price: number; quota: number; sold: number; perUserLimit: number }
  groupBuy?: { groupSize: number; price: number; timeLimitHours: number }
  bargain?: { floorPrice: number; maxHelpers: number; timeLimitHours: number }
}

export type OfferKind = 'flash-sale' | 'group-buy' | 'bargain'

export const OFFER_NAMES: Record<OfferKind, string> = {
  'flash-sale': '秒杀',
  'group-buy': '拼团',
  bargain: '砍价',
}

/** 满 99 减 20, or 9 折（最多减 30.00 元） for a percentage off. */
export function couponValueText(value: CouponValue): string {
  const from = value.minSpend > 0 ? `满 ${yuan(value.minSpend)} ` : '无门槛 '
  if (value.kind === 'amountOff') return `${from}减 ${yuan(value.off)}`
  const tenths = 100 - value.percent
  const discount = tenths % 10 === 0 ? `${tenths / 10}` : `${Math.floor(tenths / 10)}.${tenths % 10}`
  const cap = value.cap > 0 ? `（最多减 ${yuan(value.cap)}）` : ''
  return `${from}${discount} 折${cap}`
}

export function scopeText(scope: PromotionScope): string {
  if (scope.kind === 'shop') return '全店'
  if (scope.kind === 'category') return `分类 ${scope.categoryId}`
  return `商品 ${scope.productIds.join('、')}`
}

/** 满 ¥199.00 减 ¥20.00 / 满 ¥299.00 减 ¥40.00 */
export function tiersText(tiers: ReductionTier[]): string {
  return tiers.map((t) => `满 ${yuan(t.threshold)} 减 ${yuan(t.off)}`).join(' / ')
}

/** 100 points make how many yuan off, from the policy's units. */
export function pointsPerYuan(points: { pointsPerUnit: number; fenPerUnit: number }): number {
  return Math.round((points.pointsPerUnit * 100) / points.fenPerUnit)
}

/**
 * The instant a China wall-clock time names: '2026-12-12 20:00' is 12:00 UTC. The console's
 * pickers give wall-clock text, read as China time whatever the browser's own zone.
 */
export function chinaInstant(text: string): number | null {
  const match = /^(\d{4}-\d{2}-\d{2})(?: (\d{2}:\d{2})(?::(\d{2}))?)?$/.exec(text.trim())
  if (!match) return null
  const at = Date.parse(`${match[1]}T${match[2] ?? '00:00'}:${match[3] ?? '00'}+08:00`)
  return Number.isNaN(at) ? null : at / 1000
}

/** The RFC 3339 form the offer routes take, from China wall-clock text. */
export function chinaRfc3339(text: string): string | null {
  const at = chinaInstant(text)
  if (at === null) return null
  const [day, time = '00:00'] = text.trim().split(' ')
  return `${day}T${time.length === 5 ? `${time}:00` : time}+08:00`
}

/** What winning a lucky draw's prize gives. */
export type Reward =
  | { kind: 'points'; points: number }
  | { kind: 'coupon'; template: string }
  | { kind: 'gift'; skuId: string }
  | { kind: 'nothing' }

export interface LotteryPrize {
  id: string
  name: string
  reward: Reward
  quantity?: number
  weight: number
}

export interface Lottery {
  id: string
  title: string
  startsAt: number
  endsAt: number
  prizes: LotteryPrize[]
  chances: { freePerDay: number; pointsPerDraw?: number; friendCapPerDay: number }
  dailyLimit: number
}

export type Chance = 'free' | 'friend' | { points: { points: number } }

export interface LotteryDraw {
  id: string
  shopperId: string
  at: number
  chance: Chance
  prizeId: string
  prizeName: string
  reward: Reward
  couponId?: string
  /** The order a gift prize ships with, once its winner gave an address. */
  orderId?: string
}

/** 免费, 好友助力, or 50 积分 for the chance a draw used. */
export function chanceText(chance: Chance): string {
  if (chance === 'free') return '免费'
  if (chance === 'friend') return '好友助力'
  return `${chance.points.points} 积分`
}

/** 每天免费 1 次 · 50 积分一次 · 好友每天最多 3 次 */
export function chancesText(lottery: Lottery): string {
  const c = lottery.chances
  const parts = []
  if (c.freePerDay > 0) parts.push(`每天免费 ${c.freePerDay} 次`)
  if (c.pointsPerDraw) parts.push(`${c.pointsPerDraw} 积分一次`)
  if (c.friendCapPerDay > 0) parts.push(`好友每天最多 ${c.friendCapPerDay} 次`)
  return `${parts.join(' · ')}；每人每天最多 ${lottery.dailyLimit} 次`
}

/** A prize as the editor's row holds it (quantity typed, empty for no limit). */
export interface PrizeRow {
  id: string
  name: string
  kind: Reward['kind']
  points: number
  template: string
  skuId: string
  quantity: string
  weight: number
}

/** The prizes as the API takes them, or what is wrong with a row (numbered from 1). */
export function lotteryPrizesFrom(rows: PrizeRow[]): LotteryPrize[] | string {
  const prizes: LotteryPrize[] = []
  for (const [i, row] of rows.entries()) {
    const typed = row.quantity.trim()
    const quantity = typed === '' ? undefined : Number(typed)
    if (quantity !== undefined && (!Number.isSafeInteger(quantity) || quantity < 1)) {
      return `第 ${i + 1} 个奖品：数量是正整数，或留空表示不限`
    }
    if (row.kind === 'coupon' && !row.template) return `第 ${i + 1} 个奖品：请选择优惠券`
    if (row.kind === 'gift' && !row.skuId.trim()) return `第 ${i + 1} 个奖品：请填写实物的 SKU`
    if (row.kind === 'gift' && quantity === undefined) return `第 ${i + 1} 个奖品：实物要填数量`
    const reward: Reward =
      row.kind === 'points'
        ? { kind: 'points', points: row.points }
        : row.kind === 'coupon'
          ? { kind: 'coupon', template: row.template }
          : row.kind === 'gift'
            ? { kind: 'gift', skuId: row.skuId.trim() }
            : { kind: 'nothing' }
    prizes.push({ id: row.id.trim(), name: row.name.trim(), reward, quantity, weight: row.weight })
  }
  if (!prizes.some((p) => p.quantity === undefined)) return '至少一个奖品不限数量（如 谢谢参与），其他奖品抽完后按它发放'
  return prizes
}

/** What a points-mall item gives: a coupon into the wallet, or a SKU sent as an order. */
export type MallReward = { kind: 'coupon'; template: string } | { kind: 'gift'; skuId: string }

export interface MallItem {
  id: string
  title: string
  reward: MallReward
  points: number
  /** The cash top-up in fen (积分 + 钱), 0 for points alone. */
  cash: number
  stock: number
  perShopperLimit: number
  startsAt: number
  endsAt: number
}

export interface Redemption {
  id: string
  itemId: string
  title: string
  shopperId: string
  at: number
  points: number
  cash: number
  reward: MallReward
  couponId?: string
  orderId?: string
}

export type TaskKind = 'check-in' | 'view-product' | 'share-opened' | 'first-review' | 'bind-phone'

export interface PointsTask {
  kind: TaskKind
  title: string
  points: number
  dailyCap: number
  seconds?: number
  startsAt: number
  endsAt: number
}

/** Which of a task's numbers the merchant sets: the check-in's points follow its policy, the
 * once-only tasks complete once, and only a product view lasts seconds. */
export function taskFields(kind: TaskKind): { points: boolean; dailyCap: boolean; seconds: boolean } {
  return {
    points: kind !== 'check-in',
    dailyCap: kind === 'view-product' || kind === 'share-opened',
    seconds: kind === 'view-product',
  }
}

/** 5 积分 · 每天 3 次 · 浏览 15 秒 */
export function taskText(task: PointsTask): string {
  const fields = taskFields(task.kind)
  const parts = [fields.points ? `${task.points} 积分` : '积分按签到规则']
  parts.push(task.kind === 'first-review' || task.kind === 'bind-phone' ? '每人一次' : `每天 ${task.dailyCap} 次`)
  if (task.seconds) parts.push(`浏览 ${task.seconds} 秒`)
  return parts.join(' · ')
}
