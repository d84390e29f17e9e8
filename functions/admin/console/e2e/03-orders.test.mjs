import assert from 'node:assert/strict'
import { test } from 'node:test'
import { courierOutage, useBrowser, newPage, paidOrder, screenshot, shoppersOrder, signInAsOwner } from './browser.mjs'

const browser = useBrowser(async () => {
  await courierOutage(false)
})

test('an order the courier API cannot ship is shipped by hand, the shopper sees it shipped, and it is exported', async () => {
  // given a paid order while the courier's label API is down
  await courierOutage(true)
  const { id, token } = await paidOrder('console-ship', 'longjing-2')
  const { page, problems } = await newPage(browser())
  await signInAsOwner(page)

  // when the owner finds it among the orders, opens it and ships it with a waybill by hand
  await page.getByRole('menuitem', { name: '订单' }).click()
  await page.locator(`[data-test="status-${id}"]`, { hasText: '待发货' }).waitFor()
  await screenshot(page, 'orders')
  await page.locator('[data-test="orders"] .el-table__row', { hasText: id }).click()
  const drawer = page.locator('.el-drawer', { hasText: `订单 ${id}` })
  await drawer.locator('[data-test="ship-form"]').waitFor()
  await drawer.locator('[data-test="company"]').click()
  await page.getByRole('option', { name: '中通快递' }).click()
  await drawer.getByPlaceholder('运单号').fill('ZT7399001234')
  await drawer.getByRole('button', { name: '确认发货' }).click()

  // then the order shows its waybill, the list says shipped, and so does the shopper's order
  await drawer.locator('[data-test="shipment"]', { hasText: 'ZT7399001234' }).waitFor()
  await page.locator(`[data-test="status-${id}"]`, { hasText: '已发货' }).waitFor()
  await screenshot(page, 'order-detail')
  const seen = await shoppersOrder(id, token)
  assert.equal(seen.status, 'SHIPPED')
  await page.locator('.el-drawer__close-btn').click()

  // and exported as CSV, the file (once the progress ends) lists it, masked, for Excel
  await page.locator('[data-test="export"]').click()
  const dialog = page.locator('.el-dialog', { hasText: '导出订单' })
  await dialog.locator('[data-test="start-export"]').click()
  await dialog.locator('[data-test="export-ready"]').waitFor({ timeout: 60_000 })
  await screenshot(page, 'orders-export')
  const link = await dialog.locator('[data-test="export-link"]').getAttribute('href')
  const file = Buffer.from(await (await fetch(link)).arrayBuffer())
  assert.deepEqual([...file.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'a BOM, so Excel reads UTF-8')
  const csv = file.toString('utf8')
  assert.match(csv, new RegExp(id))
  assert.match(csv, /139\*\*\*\*5678/)
  assert.doesNotMatch(csv, /13912345678/)
  assert.deepEqual(problems, [])
})
