// The catalog as staff see it through the admin API.

export interface StaffSku {
  id: string
  productId: string
  specs: Record<string, string>
  price: number
  originalPrice?: number
  stock: number
  lowStockAt?: number
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
