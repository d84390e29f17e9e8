// Orders as staff see them (receivers masked by the API unless revealed).

export interface OrderLine {
  title: string
  specs: Record<string, string>
  skuId: string
  quantity: number
  unitPrice: number
  lineTotal: number
  image?: string
}

export interface StaffOrder {
  id: string
  userId: string
  status: string
  lines: OrderLine[]
  total: number
  subtotal?: number
  shipping?: number
  discounts?: { label: string; amount: number }[]
  address: { name: string; phone: string; province: string; city: string; district: string; detail: string }
  createdAt: number
  channel?: string
  provider?: string
  history?: { at: number; status: string }[]
  shipment?: { company: string; number: string; warehouseId?: string }
  shippingUpload?: { state: string; uploadedAt?: number; attempts?: number; lastError?: string }
}

/** A refund with the shopper's reason and photos (an order's, or the after-sales queue's). */
export interface AfterSale {
  orderId: string
  outRefundNo: string
  status: string
  amount: number
  skuIds: string[]
  reason: string
  kind?: 'refund_only' | 'return_and_refund' | null
  description?: string | null
  photos: { key: string; url: string }[]
  createdAt: number
  decidedAt?: number | null
  rejectedReason?: string | null
}

export const REFUND_STATES: Record<string, string> = {
  AWAITING_APPROVAL: '待审核',
  PROCESSING: '退款中',
  SUCCESS: '已退款',
  ABNORMAL: '退款异常',
  CLOSED: '已关闭',
  REJECTED: '已拒绝',
}

export const REFUND_KINDS: Record<string, string> = {
  refund_only: '仅退款',
  return_and_refund: '退货退款',
}

export interface OrderDetail extends StaffOrder {
  payment?: { provider?: string; total?: number; refundedAmount?: number; transactionId?: string; paidAt?: string }
  refunds: AfterSale[]
  parcels: {
    company: string
    number: string
    direction: string
    state: string | null
    events: { time?: string; context?: string; at?: number }[]
  }[]
  notes: { at: number; by: string; text: string }[]
}

export const STATUS_NAMES: Record<string, string> = {
  PENDING_PAYMENT: '待付款',
  PAID: '待发货',
  WAITING_GROUP: '待成团',
  SHIPPED: '已发货',
  DELIVERED: '已签收',
  COMPLETED: '已完成',
  CANCELLED: '已取消',
  REFUNDING: '退款中',
  REFUNDED: '已退款',
}

/** The couriers WeChat's shipping information knows (the API refuses any other). */
export const COURIERS: Record<string, string> = {
  shunfeng: '顺丰速运',
  zhongtong: '中通快递',
  yuantong: '圆通速递',
  yunda: '韵达快递',
  shentong: '申通快递',
  ems: 'EMS',
  jd: '京东物流',
}

export const UPLOAD_STATES: Record<string, string> = {
  UPLOADED: '已上传微信',
  PENDING: '待上传',
  FAILED: '上传失败',
}

export function statusName(status: string): string {
  return STATUS_NAMES[status] ?? status
}
