"""`scaling laws`: every registered law, the columns it reads, its equation, target, space and
settings."""

from __future__ import annotations

from scaling.laws import LAWS


def add_parser(commands) -> None:
    laws = commands.add_parser("laws", help="list the laws, the columns each needs and its "
                                            "settings")
    laws.set_defaults(run=run)


def run(args) -> int:
    for name, law_class in sorted(LAWS.items()):
        law = law_class()
        lr = " (+ lr at every step, a schedule or --lr-file)" if law.uses_lr_histories else ""
        print(f"{name:<16} columns: {', '.join(('run', *law.read_columns))}{lr}")
        if law.aliases:
            print(f"{'':<16} also --law {', '.join(law.aliases)}")
        print(f"{'':<16} {law.title}")
        print(f"{'':<16} {law.equation}")
        print(f"{'':<16} target {law.target}, {law.space} space, {law.rows} rows; settings: "
              + ", ".join(f"{s.name}=" + (("(required)" if s.required else "(auto)")
                                          if getattr(law, s.name) is None
                                          else f"{getattr(law, s.name)}")
                          for s in law.settings_spec))
    return 0
