/**
 * BAML in the notebook editor.
 *
 * - A `%%baml` cell is highlighted with BoundaryML's own CodeMirror grammar (@boundaryml/baml-lezer);
 *   a cell that stops starting with `%%baml` goes back to the notebook's language.
 * - `.baml` files open in the editor with the same grammar.
 * - After a pause in typing, the cell's text is checked by the kernel against the session's project
 *   (comm target `baml_magic.check`, answered by `baml_magic._check`), and BAML's diagnostics are
 *   underlined with the message on hover. No kernel, a busy one, or one without the extension
 *   loaded: highlighting still works and diagnostics wait.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { EditorExtensionRegistry, IEditorExtensionRegistry, IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { BAML } from '@boundaryml/baml-lezer';
import { syntaxHighlighting } from '@codemirror/language';
import { Diagnostic, forceLinting, linter } from '@codemirror/lint';
import { Compartment, EditorState, Extension, Prec, StateEffect } from '@codemirror/state';
import { EditorView, ViewPlugin } from '@codemirror/view';
import { classHighlighter } from '@lezer/highlight';

const COMM_TARGET = 'baml_magic.check';
const MAGIC = /^%%baml\b/;
const PAUSE_MS = 500;

/** Dispatched to every %%baml editor when a cell has run: the project it is checked against may have changed. */
const projectChanged = StateEffect.define<null>();

interface Mark {
  line: number;
  start: number;
  end: number;
  severity: string;
  message: string;
}

type Kernel = NonNullable<NonNullable<INotebookTracker['currentWidget']>['sessionContext']['session']>['kernel'];

/** One comm per kernel; requests answered by id. A kernel without the target closes it: we try again later. */
class Checker {
  private comms = new Map<string, { comm: any; pending: Map<number, (marks: Mark[]) => void> }>();
  private next = 1;

  check(kernel: NonNullable<Kernel>, cellId: string | undefined, code: string): Promise<Mark[]> {
    let entry = this.comms.get(kernel.id);
    if (!entry || entry.comm.isDisposed) {
      const comm = kernel.createComm(COMM_TARGET);
      const pending = new Map<number, (marks: Mark[]) => void>();
      entry = { comm, pending };
      this.comms.set(kernel.id, entry);
      comm.onMsg = (msg: any) => {
        const data = msg.content.data as { id: number; diagnostics: Mark[] };
        pending.get(data.id)?.([...data.diagnostics]);
        pending.delete(data.id);
      };
      comm.onClose = () => {
        this.comms.delete(kernel.id);
        pending.forEach(resolve => resolve([]));
        pending.clear();
      };
      comm.open({});
    }
    const id = this.next++;
    const { comm, pending } = entry;
    return new Promise<Mark[]>(resolve => {
      pending.set(id, resolve);
      try {
        comm.send({ id, cell_id: cellId, code });
      } catch {
        pending.delete(id);
        resolve([]);
      }
    });
  }
}

/** Every editor showing a %%baml cell: checked again when a cell has run (the project may have changed). */
const bamlViews = new Set<EditorView>();
const tracked = ViewPlugin.define(view => {
  bamlViews.add(view);
  return { destroy: () => bamlViews.delete(view) };
});

function isBaml(text: string): boolean {
  return MAGIC.test(text);
}

/** What a `%%baml` cell gets: BAML's language over the notebook's, tok-* classes, and the kernel's checks. */
function bamlCell(tracker: INotebookTracker, checker: Checker, cellId: () => string | undefined): Extension {
  const check = linter(
    async (view: EditorView): Promise<Diagnostic[]> => {
      const code = view.state.doc.toString();
      const kernel = tracker.currentWidget?.sessionContext.session?.kernel;
      if (!kernel || !isBaml(code)) {
        return [];
      }
      const marks = await checker.check(kernel, cellId(), code);
      const doc = view.state.doc;
      if (doc.toString() !== code) {
        return [];
      }
      return marks
        .filter(m => m.line >= 1 && m.line <= doc.lines)
        .map(m => {
          const line = doc.line(m.line);
          const from = line.from + Math.min(m.start, line.length);
          return {
            from,
            to: Math.max(from + 1, line.from + Math.min(m.end, line.length)),
            severity: m.severity === 'error' ? 'error' : 'warning',
            message: m.message,
            source: 'BAML'
          } as Diagnostic;
        });
    },
    {
      delay: PAUSE_MS,
      // forceLinting alone does nothing unless an edit is waiting to be checked: ask for a check.
      needsRefresh: update => update.transactions.some(tr => tr.effects.some(e => e.is(projectChanged)))
    }
  );
  return [
    Prec.highest(BAML()),
    Prec.highest(syntaxHighlighting(classHighlighter)),
    EditorView.editorAttributes.of({ class: 'baml-magic-cell' }),
    check,
    tracked
  ];
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'baml-magic-editor:plugin',
  description: 'BAML highlighting and errors as you type in %%baml cells and .baml files',
  autoStart: true,
  requires: [IEditorExtensionRegistry, INotebookTracker],
  optional: [IEditorLanguageRegistry],
  activate: (
    app: JupyterFrontEnd,
    extensions: IEditorExtensionRegistry,
    tracker: INotebookTracker,
    languages: IEditorLanguageRegistry | null
  ) => {
    const checker = new Checker();
    // A cell that ran may have changed the project every %%baml cell is checked against.
    NotebookActions.executed.connect(() =>
      bamlViews.forEach(view => {
        view.dispatch({ effects: projectChanged.of(null) });
        forceLinting(view);
      })
    );
    languages?.addLanguage({ name: 'BAML', mime: 'text/x-baml', extensions: ['baml'], support: BAML() });
    app.docRegistry.addFileType({
      name: 'baml',
      displayName: 'BAML',
      extensions: ['.baml'],
      mimeTypes: ['text/x-baml'],
      fileFormat: 'text',
      contentType: 'file'
    });
    extensions.addExtension({
      name: 'baml-magic-editor:cell',
      factory: options => {
        const model: any = options.model;
        const cellId = () => (typeof model.id === 'string' ? model.id : model.sharedModel?.getId?.());
        const baml = bamlCell(tracker, checker, cellId);
        const mode = new Compartment();
        const initial = isBaml(model.sharedModel?.getSource?.() ?? '');
        // The cell's first line decides, as it changes: a cell that stops being %%baml goes back.
        const follow = EditorState.transactionExtender.of(tr => {
          if (!tr.docChanged) {
            return null;
          }
          const was = isBaml(tr.startState.doc.line(1).text);
          const now = isBaml(tr.newDoc.line(1).text);
          return was === now ? null : { effects: mode.reconfigure(now ? baml : []) };
        });
        return EditorExtensionRegistry.createImmutableExtension([mode.of(initial ? baml : []), follow]);
      }
    });
  }
};

export default plugin;
