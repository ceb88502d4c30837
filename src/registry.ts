import { NavigatorError } from './core/errors';

/**
 * A table of named plug-ins (formats, runners). Adding a format or a runner is one file that
 * exports an object and one line in the table's index that registers it.
 */
export class Registry<T extends { readonly name: string }> {
  private readonly items = new Map<string, T>();

  constructor(private readonly kind: string) {}

  register(item: T): void {
    const existing = this.items.get(item.name);
    if (existing && existing !== item) {
      throw new NavigatorError(`a ${this.kind} named "${item.name}" is registered already`, {
        fix: `give the new ${this.kind} another name`,
      });
    }
    this.items.set(item.name, item);
  }

  has(name: string): boolean {
    return this.items.has(name);
  }

  get(name: string): T {
    const item = this.items.get(name);
    if (!item) {
      throw new NavigatorError(`unknown ${this.kind} "${name}"`, {
        fix: `use one of: ${this.names().join(', ')}`,
      });
    }
    return item;
  }

  names(): string[] {
    return [...this.items.keys()];
  }

  all(): T[] {
    return [...this.items.values()];
  }
}
