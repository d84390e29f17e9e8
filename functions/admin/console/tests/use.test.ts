import { describe, expect, it } from 'vitest'
import { ApiError } from '../src/api'
import { type Paged, usePagedList, useRefusal, useShownPage } from '../src/use'

describe('a form refusal', () => {
  it('is shown beside the field it names and nowhere else', () => {
    // given a form whose save the API refused naming a field
    const form = useRefusal()
    form.refused(new ApiError(400, 'invalid_request', 'must be 1 to 60 characters', 'title'))
    // then the field shows it and the form's own message stays empty
    expect(form.fieldError('title')).toBe('must be 1 to 60 characters')
    expect(form.fieldError('subtitle')).toBe('')
    expect(form.fieldError('set', 'title')).toBe('must be 1 to 60 characters')
    expect(form.message.value).toBe('')
  })

  it('naming a field the form does not show is the form message, with the field', () => {
    const form = useRefusal(['title'])
    form.refused(new ApiError(400, 'invalid_request', 'must be 1 to 365', 'days'))
    expect(form.message.value).toBe('days：must be 1 to 365')
    form.refused(new ApiError(400, 'invalid_request', 'must be 1 to 60 characters', 'title'))
    expect(form.message.value).toBe('')
  })

  it('without a field is the form message, and anything thrown is shown as its text', () => {
    const form = useRefusal()
    form.refused(new ApiError(409, 'stale_edit', '商品刚被其他人修改过'))
    expect(form.message.value).toBe('商品刚被其他人修改过')
    form.refused(new TypeError('Failed to fetch'))
    expect(form.message.value).toBe('TypeError: Failed to fetch')
    form.clear()
    expect(form.message.value).toBe('')
  })
})

describe('a paged list', () => {
  const pages: Record<string, Paged<number>> = {
    start: { items: [1, 2], nextCursor: 'c2' },
    c2: { items: [3], nextCursor: undefined },
  }

  it('adds the next page after what is shown and stops where the API has no more', async () => {
    // given a list of two pages
    const list = usePagedList<number>(async (cursor) => pages[cursor ?? 'start'])
    // when it loads and then loads more
    await list.reload()
    expect(list.items.value).toEqual([1, 2])
    expect(list.nextCursor.value).toBe('c2')
    await list.more()
    // then both pages are shown and there is nothing more to ask for
    expect(list.items.value).toEqual([1, 2, 3])
    expect(list.nextCursor.value).toBeUndefined()
    // and a reload starts again from the first page
    await list.reload()
    expect(list.items.value).toEqual([1, 2])
  })

  it('shows why it could not load, but says nothing when the session ended', async () => {
    const broken = usePagedList<number>(async () => {
      throw new ApiError(503, 'unavailable', '服务暂时不可用')
    })
    await broken.reload()
    expect(broken.failure.value).toBe('服务暂时不可用')
    expect(broken.loading.value).toBe(false)

    const ended = usePagedList<number>(async () => {
      throw new ApiError(401, 'unauthorized', 'session expired')
    })
    await ended.reload()
    expect(ended.failure.value).toBe('')
  })
})

describe('a whole list shown a page at a time', () => {
  it('shows the rows of the page chosen', () => {
    const rows = Array.from({ length: 45 }, (_, i) => i)
    const view = useShownPage(() => rows, 20)
    expect(view.shown.value).toEqual(rows.slice(0, 20))
    view.pageNo.value = 3
    expect(view.shown.value).toEqual([40, 41, 42, 43, 44])
  })
})
