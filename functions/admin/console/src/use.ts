// What every page does the same way: show a refusal by the field it names (or above the form),
// and load a list a page at a time.
import { computed, ref, shallowRef, type Ref } from 'vue'
import { ApiError } from './api'

/**
 * The API's last refusal in a form: `fieldError(name)` beside a field, `message` otherwise.
 * Given the fields the form shows (`placed`), a refusal naming any other field is in `message`
 * with its name, so no refusal goes unseen.
 */
export function useRefusal(placed?: string[]) {
  const failure = shallowRef<ApiError | null>(null)
  const message = computed(() => {
    const f = failure.value
    if (!f) return ''
    if (!f.field) return f.message
    return placed && !placed.includes(f.field) ? `${f.field}：${f.message}` : ''
  })
  function fieldError(...fields: string[]): string {
    return failure.value?.field && fields.includes(failure.value.field) ? failure.value.message : ''
  }
  /** Keeps what went wrong; anything but an API answer is shown as its own text. */
  function refused(err: unknown) {
    failure.value = err instanceof ApiError ? err : new ApiError(0, 'unexpected', String(err))
  }
  function clear() {
    failure.value = null
  }
  /** A form's save: `work` with `saving` meanwhile, its refusal kept for the form. */
  const saving = ref(false)
  async function submit(work: () => Promise<void>) {
    saving.value = true
    clear()
    try {
      await work()
    } catch (err) {
      refused(err)
    } finally {
      saving.value = false
    }
  }
  return { failure, message, fieldError, refused, clear, saving, submit }
}

/** Why a page could not load, unless the session ended (the sign-in page says so then). */
export function loadFailure(err: unknown): string {
  if (err instanceof ApiError && err.sessionEnded) return ''
  return err instanceof Error ? err.message : String(err)
}

export interface Paged<T> {
  items: T[]
  nextCursor?: string
}

/** Loading something for a page: `run(work)` with `loading` meanwhile and `failure` after. */
export function useLoader() {
  const loading = ref(false)
  const failure = ref('')
  async function run(work: () => Promise<void>) {
    loading.value = true
    failure.value = ''
    try {
      await work()
    } catch (err) {
      failure.value = loadFailure(err)
    } finally {
      loading.value = false
    }
  }
  return { loading, failure, run }
}

/** A list read page by page: `reload()` from the start, `more()` after what is shown. */
export function usePagedList<T>(read: (cursor?: string) => Promise<Paged<T>>) {
  const items = ref([]) as Ref<T[]>
  const nextCursor = ref<string | undefined>(undefined)
  const { loading, failure, run } = useLoader()
  const page = (cursor?: string) =>
    run(async () => {
      const answer = await read(cursor)
      items.value = cursor ? [...items.value, ...answer.items] : answer.items
      nextCursor.value = answer.nextCursor
    })
  return { items, nextCursor, loading, failure, reload: () => page(), more: () => page(nextCursor.value) }
}

/** A list the API gives whole (coupon templates, 满减 rules), shown `size` rows at a time. */
export function useShownPage<T>(list: () => T[], size = 20) {
  const pageNo = ref(1)
  const shown = computed(() => list().slice((pageNo.value - 1) * size, pageNo.value * size))
  return { pageNo, shown, size }
}
