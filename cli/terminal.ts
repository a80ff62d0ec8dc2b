// What the terminal wants: colour only on a terminal, and never when NO_COLOR is set.

export function useColor(noColor: boolean): boolean {
  return !noColor && Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
}
