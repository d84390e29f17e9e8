import assert from 'node:assert/strict'
import { test } from 'node:test'
import { adminApi, useBrowser, newPage, screenshot, shopUrl, signInAsOwner } from './browser.mjs'

const browser = useBrowser()

async function staffSku(token, productId, skuId) {
  const answer = await adminApi(token, 'GET', `/admin/v1/products/${productId}`)
  assert.equal(answer.status, 200)
  return answer.body.skus.find((s) => s.id === skuId)
}

async function shopperStockState(productId, skuId) {
  const answer = await fetch(`${shopUrl}/v1/products/${productId}`)
  const product = await answer.json()
  return product.skus.find((s) => s.id === skuId).stockState
}

test('a stock edit made on a stale number shows the conflict, and the edit made again changes the listing', async () => {
  // given the owner on the products page, the SKU's stock in front of them
  const { page, problems } = await newPage(browser())
  const session = await signInAsOwner(page)
  await page.getByRole('menuitem', { name: '商品' }).click()
  await page.getByPlaceholder('按标题搜索，如 龙井').fill('龙井')
  await page.getByRole('button', { name: '搜索' }).click()
  const row = page.locator('[data-test="products"] .el-table__row', { hasText: '西湖龙井' }).first()
  await row.locator('.el-table__expand-icon').click()
  const shown = Number(await page.locator('[data-test="stock-longjing-1"]').innerText())
  assert.equal(shown, (await staffSku(session.token, 'longjing', 'longjing-1')).stock)
  await screenshot(page, 'products')

  // when the stock changes under them (an order, another member) while they edit it
  await page.locator('[data-test="edit-stock-longjing-1"]').click()
  const moved = await adminApi(session.token, 'POST', '/admin/v1/skus/longjing-1/stock', {
    seen: shown,
    delta: -3,
    reason: '另一位同事出库',
  })
  assert.equal(moved.status, 200)
  const dialog = page.locator('.el-dialog', { hasText: '修改库存' })
  await dialog.locator('.el-input-number input').fill('0')
  await dialog.getByPlaceholder('如 盘点、到货、损耗').fill('盘点')
  await dialog.locator('[data-test="save-stock"]').click()

  // then the conflict says what the stock is now, and nothing was written over it
  await dialog.locator('[data-test="stale"]').waitFor()
  assert.equal(Number(await dialog.locator('[data-test="seen"]').innerText()), shown - 3)
  await screenshot(page, 'products-stale-stock')
  assert.equal((await staffSku(session.token, 'longjing', 'longjing-1')).stock, shown - 3)
  assert.equal(await shopperStockState('longjing', 'longjing-1'), 'in_stock')

  // and saved again from the number now, the SKU sells out in the listing and in the shop
  await dialog.locator('[data-test="save-stock"]').click()
  await dialog.waitFor({ state: 'hidden' })
  await page.locator('[data-test="stock-longjing-1"]', { hasText: /^0$/ }).waitFor()
  assert.equal((await staffSku(session.token, 'longjing', 'longjing-1')).stock, 0)
  assert.equal(await shopperStockState('longjing', 'longjing-1'), 'sold_out')
  assert.deepEqual(problems, [])
})

// A real 1×1 PNG: the upload form is for image/png.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
)

test('a product created with an image uploaded from the browser shows that image to shoppers', async () => {
  // given the owner on the products page, a new product's form open
  const { page, problems } = await newPage(browser())
  await signInAsOwner(page)
  await page.getByRole('menuitem', { name: '商品' }).click()
  await page.locator('[data-test="new-product"]').click()
  const form = page.locator('.el-drawer', { hasText: '新建商品' })
  await form.getByPlaceholder('字母、数字、- 和 _，如 yunnan-puer-cake').fill('anji-baicha')
  await form.locator('input[name="title"]').fill('安吉白茶 明前一级')
  await form.locator('.el-cascader').click()
  await page.locator('.el-cascader-node', { hasText: '茶叶' }).click()
  await page.locator('.el-cascader-node', { hasText: '绿茶' }).locator('.el-radio').click()
  await page.keyboard.press('Escape')

  // when they upload a photo straight to the media bucket and save the product on the shelf
  await form.locator('[data-test="image-file"]').setInputFiles({ name: 'anji.png', mimeType: 'image/png', buffer: PNG })
  await form.locator('[data-test="product-image"]').waitFor()
  const skuRow = form.locator('.sku-table .el-table__row').first()
  const cells = skuRow.locator('input')
  await cells.nth(0).fill('anji-100')
  await cells.nth(1).fill('规格：100克')
  await cells.nth(2).fill('168')
  await cells.nth(3).fill('30')
  await form.locator('.el-switch').click()
  await screenshot(page, 'product-editor')
  await form.locator('[data-test="save-product"]').click()
  await form.waitFor({ state: 'hidden' })

  // then the shopper's product page shows the uploaded image, served from the shop's address
  const answer = await fetch(`${shopUrl}/v1/products/anji-baicha`)
  assert.equal(answer.status, 200)
  const product = await answer.json()
  assert.match(product.images[0], /\/uploads\/catalog\/[A-Za-z0-9]+\.png$/)
  assert.equal(product.skus[0].price, 16800)
  const image = await fetch(product.images[0])
  assert.equal(image.status, 200)
  assert.deepEqual(Buffer.from(await image.arrayBuffer()), PNG)
  assert.deepEqual(problems, [])
})
