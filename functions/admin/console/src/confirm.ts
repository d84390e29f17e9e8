// Asking before what cannot be taken back (disabling a member, deleting a rule, refunding early).
import { ElMessageBox } from 'element-plus'

/** True when the staff member chose `yes`; closing the box or `no` is false. */
export function confirmed(text: string, title: string, yes: string, no = '取消'): Promise<boolean> {
  return ElMessageBox.confirm(text, title, { confirmButtonText: yes, cancelButtonText: no, type: 'warning' }).then(
    () => true,
    () => false,
  )
}
