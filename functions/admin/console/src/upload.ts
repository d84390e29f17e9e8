// A product image goes straight from the browser to the media bucket with the form the admin
// API signs for one key; the product then names it by the link the API gave.
import type { AdminClient } from './api'
import { ApiError } from './api'

interface UploadForm {
  url: string
  key: string
  fields: Record<string, string>
  maxBytes: number
  imageUrl: string
}

export async function uploadProductImage(client: AdminClient, file: File): Promise<string> {
  const form = await client.post<UploadForm>('/admin/v1/uploads', { contentType: file.type, size: file.size })
  const body = new FormData()
  for (const [name, value] of Object.entries(form.fields)) body.append(name, value)
  // S3 reads the fields first: the file goes last.
  body.append('file', file)
  let answer: Response
  try {
    answer = await fetch(form.url, { method: 'POST', body })
  } catch {
    throw new ApiError(0, 'upload_failed', '图片上传失败：连不上存储服务')
  }
  if (!answer.ok) throw new ApiError(answer.status, 'upload_failed', `图片上传失败（HTTP ${answer.status}）`)
  return form.imageUrl
}
