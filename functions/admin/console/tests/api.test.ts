import { describe, expect, it } from 'vitest'
import { AdminClient, ApiError, type Session, type SessionStore, withQuery } from '../src/api'

function memoryStore(initial: Session | null = null): SessionStore & { current: Session | null } {
  const store = {
    current: initial,
    load: () => store.current,
    save: (s: Session) => {
      store.current = s
    },
    clear: () => {
      store.current = null
    },
  }
  return store
}

function answer(status: number, body: unknown): Response {
  return new Response(body === undefined ? '' : JSON.stringify(body), { status })
}

const signedIn: Session = {
  token: 'tok',
  expiresAt: 10_000_000,
  staff: { id: 's1', username: 'laoban', role: 'owner' },
}

describe('the API client', () => {
  it('carries the API message and field of a refusal', async () => {
    // given a call the API refuses naming a field
    const client = new AdminClient({
      baseUrl: 'http://api',
      sessions: memoryStore(signedIn),
      now: () => 0,
      fetch: async () =>
        answer(409, { error: { code: 'stale_edit', message: 'it is 7 now', field: 'seen', current: 7 } }),
    })
    // when it is made, then the error says what the API said
    const err = (await client.post('/admin/v1/skus/a/stock', {}).catch((e: unknown) => e)) as ApiError
    expect(err).toBeInstanceOf(ApiError)
    expect([err.status, err.code, err.message, err.field]).toEqual([409, 'stale_edit', 'it is 7 now', 'seen'])
    expect(err.details.current).toBe(7)
  })

  it('ends the session once when the API no longer accepts it', async () => {
    const store = memoryStore(signedIn)
    let ended = 0
    const client = new AdminClient({
      baseUrl: 'http://api',
      sessions: store,
      now: () => 0,
      onSessionEnded: () => ended++,
      fetch: async () => answer(401, { error: { code: 'unauthorized', message: 'signed out' } }),
    })
    await expect(client.get('/admin/v1/me')).rejects.toMatchObject({ sessionEnded: true })
    expect(store.current).toBeNull()
    expect(ended).toBe(1)
    // and a later call does not reach the API at all
    await expect(client.get('/admin/v1/me')).rejects.toMatchObject({ code: 'unauthorized' })
  })

  it('treats an expired session as ended without calling', async () => {
    let calls = 0
    const client = new AdminClient({
      baseUrl: 'http://api',
      sessions: memoryStore({ ...signedIn, expiresAt: 5 }),
      now: () => 10,
      fetch: async () => {
        calls++
        return answer(200, {})
      },
    })
    expect(client.session).toBeNull()
    expect(calls).toBe(0)
  })

  it('asks for a code when an action needs step-up, then tries once more', async () => {
    const seen: string[] = []
    let steppedUp = false
    const client = new AdminClient({
      baseUrl: 'http://api/',
      sessions: memoryStore(signedIn),
      now: () => 0,
      askForCode: async () => '123456',
      fetch: async (url, init) => {
        seen.push(`${init?.method} ${url}`)
        if (url.endsWith('/step-up')) {
          steppedUp = JSON.parse(String(init?.body)).code === '123456'
          return answer(200, { steppedUpUntil: 1 })
        }
        return steppedUp
          ? answer(200, { ok: true })
          : answer(403, { error: { code: 'step_up_required', message: 'needs a code' } })
      },
    })
    expect(await client.post('/admin/v1/refunds/r1/approve', {})).toEqual({ ok: true })
    expect(seen).toEqual([
      'POST http://api/admin/v1/refunds/r1/approve',
      'POST http://api/admin/v1/auth/step-up',
      'POST http://api/admin/v1/refunds/r1/approve',
    ])
  })

  it('says the server cannot be reached, or answered something not JSON, in words', async () => {
    const offline = new AdminClient({
      baseUrl: 'http://api',
      sessions: memoryStore(signedIn),
      now: () => 0,
      fetch: async () => {
        throw new TypeError('Failed to fetch')
      },
    })
    await expect(offline.get('/admin/v1/me')).rejects.toMatchObject({ code: 'unreachable', status: 0 })
    const gateway = new AdminClient({
      baseUrl: 'http://api',
      sessions: memoryStore(signedIn),
      now: () => 0,
      fetch: async () => new Response('<html>Bad Gateway</html>', { status: 502 }),
    })
    await expect(gateway.get('/admin/v1/me')).rejects.toMatchObject({ code: 'unexpected', status: 502 })
  })

  it('signs in and keeps the session until it expires', async () => {
    const store = memoryStore()
    const client = new AdminClient({
      baseUrl: 'http://api',
      sessions: store,
      now: () => 1_000,
      fetch: async () => answer(200, { token: 't2', expiresIn: 3600, staff: signedIn.staff }),
    })
    const session = await client.signIn('laoban', 'pw', '654321')
    expect(session.expiresAt).toBe(1_000 + 3_600_000)
    expect(store.current?.token).toBe('t2')
  })

  it('leaves empty query values out', () => {
    expect(withQuery('/x', { from: '2026-12-01', channel: '', q: '龙井', limit: undefined })).toBe(
      '/x?from=2026-12-01&q=%E9%BE%99%E4%BA%95',
    )
  })
})
