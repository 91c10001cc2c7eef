import { namespaceApi } from "../api.js";
import { useLoad } from "../hooks.js";

/** Which namespace a fleet page shows; choosing another goes to `hrefFor` it. */
export function NamespacePicker({ value, hrefFor }: { value: string; hrefFor: (namespace: string) => string }) {
  const namespaces = useLoad(async () => (await namespaceApi.listNamespaces({ pageSize: 1000 })).namespaces.map((n) => n.name), []);
  const names = namespaces.data ?? [value];
  return (
    <label>
      namespace
      <select data-testid="namespace" value={value} onChange={(e) => (location.hash = hrefFor(e.currentTarget.value))}>
        {(names.includes(value) ? names : [value, ...names]).map((n) => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </select>
    </label>
  );
}
