import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  ageSession,
  demoOwner,
  eventually,
  freshCode,
  useBrowser,
  newPage,
  paidOrder,
  screenshot,
  sendBackAndAskRefund,
  shoppersOrder,
  signInAsOwner,
} from './browser.mjs'

const browser = useBrowser()

test('a refund above 500 yuan is approved from the queue with a fresh code, refunded, and on the audit log', async () => {
  // given a shipped order of 580 yuan its shopper sent back and asked a refund for, which waits
  // for the shop (REFUND_APPROVAL=shipped) and for the parcel back
  const { id, token } = await paidOrder('console-refund', 'puer-raw-1')
  await eventually(
    () => shoppersOrder(id, token),
    (order) => order.status === 'SHIPPED',
  )
  const asked = await sendBackAndAskRefund(id, token, '质量问题')
  assert.equal(asked.refund.status, 'AWAITING_APPROVAL')
  assert.ok(asked.refund.amount > 50_000, `refund of ${asked.refund.amount} fen needs step-up`)
  // and the owner signed in more than five minutes ago (their code no longer counts as fresh)
  const { page, problems } = await newPage(browser())
  const session = await signInAsOwner(page)
  await ageSession(session.token, { steppedUpAgo: 600 })

  // when the owner opens the after-sales queue and approves it before the parcel is back,
  // entering a code when asked and confirming they refund without waiting for the parcel
  await page.getByRole('menuitem', { name: '售后审核' }).click()
  const card = page.locator(`[data-test="refund-${id}"]`)
  await card.getByText('收到的茶叶受潮结块').waitFor()
  await page.locator('.queue[data-loading="no"]').waitFor()
  await screenshot(page, 'after-sales')
  await card.locator('[data-test="approve"]').click()
  const stepUp = page.locator('.step-up-dialog')
  await stepUp.getByText('此操作需要二次验证').waitFor()
  await screenshot(page, 'step-up')
  await stepUp.getByPlaceholder('6 位动态码').fill(await freshCode(demoOwner().totpSecret))
  await stepUp.getByRole('button', { name: '验证' }).click()
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
