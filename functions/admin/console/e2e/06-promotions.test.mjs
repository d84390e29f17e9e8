import assert from 'node:assert/strict'
import { test } from 'node:test'
import { newPage, screenshot, shopper, signInAsOwner, useBrowser } from './browser.mjs'

const browser = useBrowser()

/** Wall-clock text in China time, `minutes` from now: what the console's pickers take. */
function chinaClock(minutes) {
  const at = new Date(Date.now() + minutes * 60_000 + 8 * 3_600_000)
  return at.toISOString().slice(0, 16).replace('T', ' ')
}

test('a coupon, a 满减 rule and a flash sale made in the console are what shoppers are offered and charged', async () => {
  // given the owner on the promotions page and a shopper
  const { page, problems } = await newPage(browser())
  await signInAsOwner(page)
  const { token } = await shopper('POST', '/v1/auth/login', undefined, { code: 'console-promotions.1' })
  await page.getByRole('menuitem', { name: '营销' }).click()
  await page.locator('[data-test="coupons"] .el-table__row').first().waitFor()

  // when they create a coupon of 15 yuan off from 99 yuan, 50 of them, one per shopper
  await page.locator('[data-test="new-coupon"]').click()
  const coupon = page.locator('[data-test="coupon-dialog"]')
  await coupon.locator('input[name="couponId"]').fill('double12-15')
  await coupon.locator('input[name="couponTitle"]').fill('双十二立减券')
  await coupon.locator('input[name="off"]').fill('15')
  await coupon.locator('input[name="minSpend"]').fill('99')
  await coupon.locator('input[name="totalLimit"]').fill('50')
  await screenshot(page, 'coupon-editor')
  await coupon.locator('[data-test="save-coupon"]').click()
  await coupon.waitFor({ state: 'hidden' })
  await page.locator('[data-test="issued-double12-15"]', { hasText: '0 / 50' }).waitFor()

  // then the shopper is offered it as set
  const offered = await shopper('GET', '/v1/coupons/available', token)
  const double12 = offered.items.find((c) => c.templateId === 'double12-15')
  assert.deepEqual(double12.value, { kind: 'amountOff', off: 1500, minSpend: 9900 })
  assert.equal(double12.remaining, 50)
  assert.equal(double12.perUserLimit, 1)

  // when they add a shop-wide 满 500 减 60 rule
  await page.getByRole('tab', { name: '满减' }).click()
  await page.locator('[data-test="new-reduction"]').click()
  const reduction = page.locator('[data-test="reduction-dialog"]')
  await reduction.locator('input[name="reductionId"]').fill('big-order')
  await reduction.locator('input[name="threshold-0"]').fill('500')
  await reduction.locator('input[name="off-0"]').fill('60')
  await reduction.locator('[data-test="save-reduction"]').click()
  await reduction.waitFor({ state: 'hidden' })
  await page.locator('[data-test="reductions"] .el-table__row', { hasText: '满 ¥500.00 减 ¥60.00' }).waitFor()
  await screenshot(page, 'reductions')

  // then a 580-yuan order is quoted the new rule's 60 yuan off beside the shop-wide 满299减40
  const quote = await shopper('POST', '/v1/checkout/quote', token, { items: [{ skuId: 'puer-raw-1', quantity: 1 }] })
  const reductions = quote.discounts.filter((d) => d.kind === 'full_reduction')
  assert.deepEqual(reductions.map((d) => [d.label, d.amount]).sort(), [
    ['满299减40', 4000],
    ['满500减60', 6000],
  ])
  assert.equal(quote.total, 58000 - 4000 - 6000)

  // when they put a SKU on a flash sale from the products page, running from now for an hour
  await page.getByRole('menuitem', { name: '商品' }).click()
  const row = page.locator('[data-test="products"] .el-table__row', { hasText: 'biluochun' }).first()
  await row.locator('.el-table__expand-icon').click()
  await page.locator('[data-test="offer-biluochun-1"]').click()
  const offer = page.locator('[data-test="offer-dialog"]')
  await offer.locator('input[name="offerPrice"]').fill('49.90')
  await offer.locator('input[name="quota"]').fill('20')
  const window = offer.locator('.el-range-input')
  await window.nth(0).fill(chinaClock(-1))
  await window.nth(1).fill(chinaClock(60))
  await window.nth(1).press('Enter')
  await screenshot(page, 'flash-sale')
  await offer.locator('[data-test="save-offer"]').click()
  await offer.waitFor({ state: 'hidden' })

  // then the shopper sees the flash price, and it is on the promotions page's list of offers
  const product = await shopper('GET', '/v1/products/biluochun')
  const sku = product.skus.find((s) => s.id === 'biluochun-1')
  assert.equal(sku.flashSale.price, 4990)
  await page.getByRole('menuitem', { name: '营销' }).click()
  await page.getByRole('tab', { name: '秒杀 / 拼团 / 砍价' }).click()
  await page.locator('[data-test="offers"] .el-table__row', { hasText: '¥49.90' }).getByText('已售 0/20').waitFor()
  await screenshot(page, 'offers')
  assert.deepEqual(problems, [])
})
