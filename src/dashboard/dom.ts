/** Tiny DOM helpers: the dashboard builds its nodes with these, never with innerHTML of data. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v)
  node.append(...children)
  return node
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id)
  if (!node) throw new Error(`#${id} is missing from the page`)
  return node as T
}

/** Restarts a CSS animation class (the score-change highlight). */
export function flash(node: HTMLElement): void {
  node.classList.remove('flash')
  void node.offsetWidth
  node.classList.add('flash')
}
