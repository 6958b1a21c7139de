// An EventTarget whose addEventListener knows each event's type, as libp2p services have
// (main-event's TypedEventEmitter, which is not a dependency of ours).

type Listener<E> = ((evt: E) => void) | { handleEvent(evt: E): void } | null
type BaseListener = Parameters<EventTarget['addEventListener']>[1]
type AddOptions = Parameters<EventTarget['addEventListener']>[2]
type RemoveOptions = Parameters<EventTarget['removeEventListener']>[2]

export class TypedEventTarget<EventMap extends Record<string, Event>> extends EventTarget {
  override addEventListener<K extends keyof EventMap & string>(
    type: K,
    listener: Listener<EventMap[K]>,
    options?: AddOptions,
  ): void {
    super.addEventListener(type, listener as BaseListener, options)
  }

  override removeEventListener<K extends keyof EventMap & string>(
    type: K,
    listener: Listener<EventMap[K]>,
    options?: RemoveOptions,
  ): void {
    super.removeEventListener(type, listener as BaseListener, options)
  }

  /**
   * Dispatches a CustomEvent carrying `detail`. A listener's exception does not come back
   * here (Node reports it as an uncaught exception): listeners must not throw.
   */
  dispatchDetail<K extends keyof EventMap & string>(
    type: K,
    detail: EventMap[K] extends CustomEvent<infer D> ? D : never,
  ): boolean {
    return this.dispatchEvent(new CustomEvent(type, { detail }))
  }
}
