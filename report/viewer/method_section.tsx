// "How this was computed": phases, platform calls, timings, warnings and the limits of conservative scanning.

import type { MethodPayload } from "../view/payload.ts";

export function MethodSection({ method }: { method: MethodPayload }) {
  const max = Math.max(1, ...method.timings.map((t) => t.ms));
  return (
    <section class="card method" aria-labelledby="method-title">
      <h2 id="method-title">How this was computed</h2>
      <div class="method-grid">
        <div>
          <h4>Phases</h4>
          <ol class="steps">
            {method.steps.map((s) => (
              <li key={s.name}>
                <b>{s.name}.</b> {s.detail}
              </li>
            ))}
          </ol>
        </div>
        <div>
          <h4>Calls used on {method.platform}</h4>
          <ul class="calls">
            {method.calls.map((c) => (
              <li key={c.name}>
                <code>{c.name}</code> <span class="muted">{c.purpose}</span>
              </li>
            ))}
          </ul>
          {method.timings.length > 0 && (
            <>
              <h4>
                Timings <span class="muted">({method.totalMs.toFixed(1)} ms)</span>
              </h4>
              <table class="timings">
                <tbody>
                  {method.timings.map((t) => (
                    <tr key={t.phase}>
                      <td>{t.phase}</td>
                      <td class="bar">
                        <span style={{ width: `${(100 * t.ms) / max}%` }} />
                      </td>
                      <td class="num">{t.ms.toFixed(1)} ms</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
          {method.warnings.length > 0 && (
            <>
              <h4>Warnings</h4>
              <ul class="warnings">
                {method.warnings.map((w, i) => <li key={i}>⚠ {w}</li>)}
              </ul>
            </>
          )}
          <h4>Limits of conservative scanning</h4>
          <ul class="limits">
            {method.limits.map((l, i) => <li key={i}>{l}</li>)}
          </ul>
        </div>
      </div>
    </section>
  );
}
