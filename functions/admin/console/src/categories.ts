// The shop's category tree as shoppers see it, for pickers; read once per page load.
import { shopApiUrl } from './shop'

export interface CategoryNode {
  id: string
  name: string
  children: CategoryNode[]
}

let tree: Promise<CategoryNode[]> | null = null

/** The tree, or empty when the shoppers' API cannot be reached (asked again next time). */
export function categoryTree(): Promise<CategoryNode[]> {
  tree ??= fetch(`${shopApiUrl()}/v1/categories`)
    .then(async (answer) => (answer.ok ? ((await answer.json()) as { categories: CategoryNode[] }).categories : []))
    .catch(() => [])
    .then((categories) => {
      if (categories.length === 0) tree = null
      return categories
    })
  return tree
}

/** The ids from the top down to `target` (what a cascader holds), or empty if it is not there. */
export function pathTo(nodes: CategoryNode[], target: string, above: string[] = []): string[] {
  for (const node of nodes) {
    if (node.id === target) return [...above, node.id]
    const below = pathTo(node.children ?? [], target, [...above, node.id])
    if (below.length > 0) return below
  }
  return []
}

export const CASCADER_PROPS = { value: 'id', label: 'name', children: 'children', checkStrictly: true, emitPath: true }
