// The live reports as the dashboard draws them: the API's counts, named in Chinese.

export type Step =
  | 'Visit'
  | 'ProductViewed'
  | 'CartAdd'
  | 'Quote'
  | 'OrderCreated'
  | 'OrderPaid'
  | 'Shipped'
  | 'Delivered'

export interface FunnelStep {
  step: Step
  count: number
  conversionPermille?: number | null
}

export interface Funnel {
  from: string
  to: string
  channel?: string | null
  steps: FunnelStep[]
  visitors: number
  revenue: number
  refunds?: number
  refunded?: number
  tasksCompleted?: number
  mallRedemptions?: number
  lotteryDraws?: number
  pointsIssued?: number
  pointsSpent?: number
}

export interface Hour {
  hour: string
  visits: number
  visitors: number
  orders: number
  paidOrders: number
  revenue: number
  tasksCompleted: number
  mallRedemptions: number
  lotteryDraws: number
  pointsIssued: number
  pointsSpent: number
}

export interface Hourly {
  from: string
  to: string
  hours: Hour[]
  byHourOfDay: Hour[]
  /** The range day by day (`hour` is then the day). */
  byDay: Hour[]
}

export interface TopProduct {
  productId: string
  title: string
  views: number
  cartAdds: number
  unitsSold: number
  sales: number
}

export interface ChannelFunnel extends Omit<Funnel, 'from' | 'to'> {
  channel: string
}

export const STEP_NAMES: Record<Step, string> = {
  Visit: '访问',
  ProductViewed: '浏览商品',
  CartAdd: '加入购物车',
  Quote: '结算',
  OrderCreated: '下单',
  OrderPaid: '支付',
  Shipped: '发货',
  Delivered: '签收',
}

export const CHANNEL_NAMES: Record<string, string> = {
  direct: '直接访问',
  share: '分享',
  qrcode: '扫码',
  search: '搜索',
  official_account: '公众号',
  ads: '广告',
  discover: '发现页',
  mini_program: '其他小程序',
  other: '其他',
}

export function channelName(channel: string): string {
  return CHANNEL_NAMES[channel] ?? channel
}

/** A step's count in a funnel (0 when the funnel leaves it out). */
export function countOf(funnel: Pick<Funnel, 'steps'>, step: Step): number {
  return funnel.steps.find((s) => s.step === step)?.count ?? 0
}
