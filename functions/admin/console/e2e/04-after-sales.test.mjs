import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import {
  eventually,
  launch,
  newPage,
  paidOrder,
  screenshot,
  sendBackAndAskRefund,
  shoppersOrder,
  signInAsOwner,
} from './browser.mjs'

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

test('a refund waiting for approval is approved from the queue, refunded, and on the audit log', async () => {
  // given a shipped order its shopper sent back and asked a refund for, which waits for the
  // shop (REFUND_APPROVAL=shipped) and for the parcel back
  const { id, token } = await paidOrder('console-refund', 'longjing-2')
  await eventually(
    () => shoppersOrder(id, token),
    (order) => order.status === 'SHIPPED',
  )
  const asked = await sendBackAndAskRefund(id, token, '质量问题')
  assert.equal(asked.refund.status, 'AWAITING_APPROVAL')
  const { page, problems } = await newPage(browser)
  await signInAsOwner(page)

  // when the owner opens the after-sales queue and approves it before the parcel is back,
  // confirming they refund without waiting for it
  await page.getByRole('menuitem', { name: '售后审核' }).click()
  const card = page.locator(`[data-test="refund-${id}"]`)
  await card.getByText('收到的茶叶受潮结块').waitFor()
  await page.locator('.queue[data-loading="no"]').waitFor()
  await screenshot(page, 'after-sales')
  await card.locator('[data-test="approve"]').click()
  await page.getByText('退货包裹还没有签收').waitFor()
  await page.getByRole('button', { name: '仍然退款' }).click()

  // then it leaves the queue and the shopper's refund has gone to WeChat Pay
  await card.waitFor({ state: 'detached' })
  const refunded = await eventually(
    () => shoppersOrder(id, token),
    (order) => ['PROCESSING', 'SUCCESS'].includes(order.afterSales?.[0]?.status),
  )
  assert.equal(refunded.afterSales[0].amount, asked.refund.amount)
  assert.equal(refunded.status, 'REFUNDING')

  // and the audit log shows who approved it (with the override), in an intact chain
  await page.getByRole('menuitem', { name: '审计日志' }).click()
  await page.getByPlaceholder('操作，如 refund.approve').fill('refund.approve')
  await page.getByRole('button', { name: '查询' }).click()
  await page.locator('[data-test="audit"] .el-table__row', { hasText: id }).waitFor()
  await page.locator('[data-test="chain"]', { hasText: '哈希链完整' }).waitFor()
  await screenshot(page, 'audit')
  assert.deepEqual(problems, [])
})
