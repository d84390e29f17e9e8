// The admin API as the console calls it: one client, one error shape. Every failure becomes an
// ApiError carrying the API's own message (shown to the merchant as it is) and the field it
// names; a session the API no longer accepts ends here, once, so no page is left half-working.

export interface Staff {
  id: string
  username: string
  role: 'owner' | 'operator' | 'service' | 'warehouse'
  permissions?: string[]
  totpEnrolled?: boolean
  mustChangePassword?: boolean
}

export interface Session {
  token: string
  /** Epoch milliseconds. */
  expiresAt: number
  staff: Staff
}

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly field?: string
  readonly details: Record<string, unknown>

  constructor(status: number, code: string, message: string, field?: string, details = {}) {
    super(message)
    this.status = status
    this.code = code
    this.field = field
    this.details = details
  }

  /** The session is gone (expired, signed out, disabled): sign in again. */
  get sessionEnded(): boolean {
    return this.status === 401 && this.code === 'unauthorized'
  }

  get needsStepUp(): boolean {
    return this.status === 403 && this.code === 'step_up_required'
  }
}

/** Where the session is kept: the tab's own storage, so closing the tab signs out. */
export interface SessionStore {
  load(): Session | null
  save(session: Session): void
  clear(): void
}

export function browserSessionStore(storage: Storage = window.sessionStorage): SessionStore {
  const key = 'shop-console-session'
  return {
    load() {
      try {
        const raw = storage.getItem(key)
        return raw ? (JSON.parse(raw) as Session) : null
      } catch {
        return null
      }
    },
    save(session) {
      storage.setItem(key, JSON.stringify(session))
    },
    clear() {
      storage.removeItem(key)
    },
  }
}

type Fetch = (input: string, init?: RequestInit) => Promise<Response>

export interface ClientOptions {
  baseUrl: string
  sessions: SessionStore
  fetch?: Fetch
  now?: () => number
  /** Called once when the API ends the session (or it expired here). */
  onSessionEnded?: () => void
  /** Asks the staff member for a fresh code; null when they cancel. */
  askForCode?: () => Promise<string | null>
}

type Query = Record<string, string | number | undefined | null>

export class AdminClient {
  private readonly options: ClientOptions
  private readonly fetcher: Fetch

  constructor(options: ClientOptions) {
    this.options = options
    this.fetcher = options.fetch ?? ((input, init) => fetch(input, init))
  }

  private now(): number {
    return this.options.now ? this.options.now() : Date.now()
  }

  get session(): Session | null {
    const session = this.options.sessions.load()
    if (session && session.expiresAt <= this.now()) {
      this.endSession()
      return null
    }
    return session
  }

  private endSession(): void {
    this.options.sessions.clear()
    this.options.onSessionEnded?.()
  }

  /** Password, then (for staff with a second factor) the 6-digit code. */
  async signIn(username: string, password: string, code?: string): Promise<Session> {
    const body: Record<string, string> = { username, password }
    if (code) body.code = code
    const answer = await this.send<{ token: string; expiresIn: number; staff: Staff }>(
      'POST',
      '/admin/v1/auth/sign-in',
      body,
      false,
    )
    const session = {
      token: answer.token,
      expiresAt: this.now() + answer.expiresIn * 1000,
      staff: answer.staff,
    }
    this.options.sessions.save(session)
    return session
  }

  async signOut(): Promise<void> {
    try {
      await this.send('POST', '/admin/v1/auth/sign-out', {})
    } finally {
      this.options.sessions.clear()
    }
  }

  /** The member as the API knows them now, kept with the session. */
  async me(): Promise<Staff> {
    const staff = await this.get<Staff>('/admin/v1/me')
    const session = this.session
    if (session) this.options.sessions.save({ ...session, staff })
    return staff
  }

  async stepUp(code: string): Promise<void> {
    await this.send('POST', '/admin/v1/auth/step-up', { code })
  }

  get<T>(path: string, query: Query = {}): Promise<T> {
    return this.call<T>('GET', withQuery(path, query))
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('POST', path, body)
  }

  delete<T>(path: string): Promise<T> {
    return this.call<T>('DELETE', path)
  }

  /** One call; a high-risk one that needs a fresh code asks for it once and tries again. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    try {
      return await this.send<T>(method, path, body)
    } catch (err) {
      if (err instanceof ApiError && err.needsStepUp && this.options.askForCode) {
        const code = await this.options.askForCode()
        if (code === null) throw err
        await this.stepUp(code)
        return this.send<T>(method, path, body)
      }
      throw err
    }
  }

  private async send<T>(method: string, path: string, body?: unknown, signedIn = true): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' }
    if (signedIn) {
      const session = this.session
      if (!session) throw new ApiError(401, 'unauthorized', '登录已过期，请重新登录')
      headers.authorization = `Bearer ${session.token}`
    }
    if (body !== undefined) headers['content-type'] = 'application/json'
    let response: Response
    try {
      response = await this.fetcher(this.options.baseUrl.replace(/\/$/, '') + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      })
    } catch {
      throw new ApiError(0, 'unreachable', '无法连接到服务器，请检查网络后重试')
    }
    const text = await response.text()
    let parsed: unknown = undefined
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text)
      } catch {
        parsed = undefined
      }
    }
    if (response.ok) return parsed as T
    const error = failure(response.status, parsed)
    if (signedIn && error.sessionEnded) this.endSession()
    throw error
  }
}

function failure(status: number, parsed: unknown): ApiError {
  const shape = (parsed as { error?: Record<string, unknown> } | undefined)?.error
  if (shape && typeof shape.code === 'string' && typeof shape.message === 'string') {
    const { code, message, field, ...details } = shape
    return new ApiError(
      status,
      code,
      message,
      typeof field === 'string' ? field : undefined,
      details,
    )
  }
  return new ApiError(status, 'unexpected', `服务暂时不可用（HTTP ${status}），请稍后重试`)
}

export function withQuery(path: string, query: Query): string {
  const pairs = Object.entries(query)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
  return pairs.length > 0 ? `${path}?${pairs.join('&')}` : path
}

/** Where this stack's admin API is: config.json beside the bundle, written at deploy time. */
export async function loadConfig(
  fetcher: Fetch = (i, init) => fetch(i, init),
): Promise<{ apiUrl: string; shopApiUrl: string }> {
  const answer = await fetcher('config.json', { cache: 'no-store' })
  if (!answer.ok) throw new Error(`config.json: HTTP ${answer.status}`)
  const config = (await answer.json()) as { apiUrl?: unknown; shopApiUrl?: unknown }
  if (typeof config.apiUrl !== 'string') throw new Error('config.json has no apiUrl')
  // The shoppers' API (the category tree); the same host where one gateway serves both.
  const shopApiUrl = typeof config.shopApiUrl === 'string' ? config.shopApiUrl : config.apiUrl
  return { apiUrl: config.apiUrl, shopApiUrl }
}
