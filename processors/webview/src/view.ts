/** What the shell (main.ts) knows of a view, and what a view may ask of the shell. */
import type cytoscape from 'cytoscape';
import type { Api } from './api.js';

export interface Shell {
  api: Api;
  /** Shows a resource's details panel (by any alias). */
  selectResource(id: string): void;
  /** Goes to a view, e.g. navigate('incident', id). */
  navigate(view: string, parameter?: string): void;
  /** A message in the status line (errors in red). */
  status(message: string, error?: boolean): void;
}

export interface View {
  readonly name: string;
  readonly title: string;
  readonly element: HTMLElement;
  /** The graph the view draws, if it draws one (window.airdig.cy while the view is shown). */
  readonly cy?: cytoscape.Core;
  /** Called when the view is shown (parameter: the hash's rest, e.g. an incident id). */
  show(parameter?: string): Promise<void>;
  /** Fetches again and redraws in place, after a live update. */
  refresh(): Promise<void>;
  /** Selects and centres a resource if the view draws it; false when it does not. */
  focus?(id: string): boolean;
}
