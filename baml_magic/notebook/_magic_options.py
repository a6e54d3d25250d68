"""The settings of ``BamlMagic``, as traitlets (``%config BamlMagic.refresh_hz = 20``); what each change
does is the magic's own (its ``@observe`` and ``@validate`` handlers)."""

from __future__ import annotations

from traitlets import Bool, CaselessStrEnum, Dict, Float, Integer, Unicode
from traitlets.config import Configurable

from baml_magic.calls import MODES
from baml_magic.engine import kinds


class MagicOptions(Configurable):
    """Every ``BamlMagic`` setting, with its help (``%config BamlMagic`` lists them)."""

    refresh_hz = Float(20.0, help="How many times a second a live view redraws while a call streams.").tag(
        config=True)
    display = CaselessStrEnum(
        ["auto", "widget", "text", "none"], default_value="auto",
        help="How calls show their stream: auto (a live output in Jupyter, ipywidgets for Fn.start; text in a "
             "terminal), widget (ipywidgets), text or none.",
    ).tag(config=True)
    stream = Bool(True, help="Whether Fn() and Fn.aio() calls stream. False: the answer comes in one piece, the "
                             "cheaper way for pipelines of many small calls, but with no partial after a fault or "
                             "an interrupt and no time to first token (a call with an idle_timeout still streams); "
                             "Fn.stream() and Fn.start() always stream.").tag(config=True)
    plain_requests = Bool(False, help="Whether answers in one piece (Fn.map items, stream=False) are asked for as "
                                      "plain requests. False: they are streamed on the wire, so an interrupt stops "
                                      "the server's generation (a server notices a closed connection only when it "
                                      "writes). True: for a model or proxy that can't stream; an interrupted request "
                                      "may then keep the server generating until its answer is done.").tag(
        config=True)
    allow_incomplete = Bool(False, help="Whether a call accepts an answer that is not whole (cut at the token limit, "
                                        "filtered, refused) when BAML's parser made a value of it. False: it raises "
                                        "IncompleteAnswerError with the value kept; the view and Fn.last say so either "
                                        "way.").tag(config=True)
    max_retry_wait = Float(60.0, help="The longest Retry-After (seconds) a map waits out before it retries; a "
                                      "longer one fails the item with a clear error.").tag(config=True)
    history = Integer(1000, help="How many past calls the session keeps (Fn.last, %baml usage details); the "
                                 "totals in %baml usage count every call.").tag(config=True)
    cache_dir = Unicode("", help="Where BAML's generator writes (default: $BAML_MAGIC_CACHE or "
                                 "~/.cache/baml_magic).").tag(config=True)
    cache = CaselessStrEnum(list(MODES), default_value="off",
                            help="The response cache: off, on (read and write), record (always call, write), "
                                 "replay (read only; a miss is an error).").tag(config=True)
    cache_path = Unicode("", help="The response cache file, or a folder for responses.sqlite3 (default: "
                                  "responses.sqlite3 in $BAML_MAGIC_CACHE or ~/.cache/baml_magic).").tag(config=True)
    cache_pace = Bool(False, help="Replay recorded answers at their recorded pace instead of at once.").tag(
        config=True)
    max_media_mb = Float(50.0, help="The largest media file, bytes or data: URL a call reads, in MB (checked "
                                    "before reading; a larger one is a one-line error).").tag(config=True)
    trace = Bool(False, help="OpenTelemetry GenAI spans for every call (needs baml_magic[otel]; the standard "
                             "OTEL_EXPORTER_OTLP_* variables say where they go).").tag(config=True)
    engine = CaselessStrEnum(list(kinds.NAMES), default_value=kinds.DEFAULT,
                             help=f"The BAML language of %%baml cells and %baml load without --engine: {kinds.HELP}.",
                             ).tag(config=True)
    runs_kept = Integer(10_000, help="How many runs the session keeps by version (Fn.history, %baml runs, "
                                     "%baml test --diff); the oldest go first; 0 keeps none.").tag(config=True)
    runs_file = Unicode("", help="A file (or a folder for runs.sqlite3) where kept runs are also written, and read "
                                 "back from when set (after a restart); several kernels can share it.").tag(config=True)
    prices = Dict(help="Prices by model, (input, output) US dollars per million tokens, over the built-in table "
                       "(e.g. {'gpt-4o-mini': (0.15, 0.6)}).").tag(config=True)
