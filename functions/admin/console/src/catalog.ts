// The catalog as staff see it through the admin API.
import type { SkuOffers } from './promotions'

export interface StaffSku extends SkuOffers {
  id: string
  productId: string
  specs: Record<string, string>
  price: number
  originalPrice?: number
  stock: number
  lowStockAt?: number
  /** Price per member level (fen), where the shop set one. */
  memberPrices?: Record<string, number>
}

export interface StaffProduct {
  product: {
    id: string
    title: string
    subtitle: string
    description?: string
    categoryId: string
    images: string[]
    onShelf: boolean
    sales: number
  }
  skus: StaffSku[]
  version: number
}

export interface ProductPage {
  items: StaffProduct[]
  nextCursor?: string
}
