"""step journal: detection checkpoints every few seconds and journals each step; placements
carry a change watermark (set by trigger) so a step reads only what changed

Revision ID: 0015
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

# Every insert, and every change of revision or status, takes the next watermark value. On
# PostgreSQL the watermark row stays locked until the change commits, so values become visible
# in order and a reader that has seen value n never misses a later commit below it.
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER placements_changed_{event} AFTER {clause} ON placements BEGIN "
    "UPDATE placement_watermark SET value = value + 1 WHERE id = 1; "
    "UPDATE placements SET changed = (SELECT value FROM placement_watermark WHERE id = 1) "
    "WHERE id = NEW.id; END"
    for event, clause in (("insert", "INSERT"), ("update", "UPDATE OF revision, status"))
]
POSTGRES_STATEMENTS = [
    "CREATE FUNCTION vigie_placement_changed() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN UPDATE placement_watermark SET value = value + 1 WHERE id = 1 "
    "RETURNING value INTO NEW.changed; RETURN NEW; END $$",
    "CREATE TRIGGER placements_changed BEFORE INSERT OR UPDATE OF revision, status "
    "ON placements FOR EACH ROW EXECUTE FUNCTION vigie_placement_changed()",
]


def upgrade() -> None:
    op.add_column(
        "engine_state", sa.Column("step", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.add_column(
        "engine_state", sa.Column("mark", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.create_table(
        "engine_steps",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("cursor_from", sa.BigInteger(), nullable=False),
        sa.Column("cursor_to", sa.BigInteger(), nullable=False),
        sa.Column("clock", sa.DateTime(timezone=True), nullable=False),
        sa.Column("placements", _JSON, nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engine_steps")),
    )
    op.create_table(
        "engine_placements",
        sa.Column("case_ref", sa.String(length=40), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("record", _JSON, nullable=True),
        sa.PrimaryKeyConstraint("case_ref", name=op.f("pk_engine_placements")),
    )
    op.create_table(
        "engine_shapes",
        sa.Column("digest", sa.LargeBinary(), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_engine_shapes")),
    )
    op.create_table(
        "placement_watermark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_placement_watermark")),
    )
    op.execute("INSERT INTO placement_watermark (id, value) VALUES (1, 0)")
    op.add_column(
        "placements", sa.Column("changed", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.create_index("ix_placements_changed", "placements", ["changed"], unique=False)
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_TRIGGERS if sqlite else POSTGRES_STATEMENTS:
        op.execute(statement)
    # Placements already there: each its own value, so a first reader sees them all.
    op.execute(
        "UPDATE placement_watermark SET value = (SELECT count(*) FROM placements) WHERE id = 1"
    )
    if sqlite:
        op.execute(
            "UPDATE placements SET changed = "
            "(SELECT count(*) FROM placements p WHERE p.id <= placements.id)"
        )
    else:
        op.execute(
            "UPDATE placements SET changed = ranked.n FROM "
            "(SELECT id, row_number() OVER (ORDER BY id) AS n FROM placements) AS ranked "
            "WHERE placements.id = ranked.id"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER placements_changed_insert")
        op.execute("DROP TRIGGER placements_changed_update")
    else:
        op.execute("DROP TRIGGER placements_changed ON placements")
        op.execute("DROP FUNCTION vigie_placement_changed()")
    op.drop_index("ix_placements_changed", table_name="placements")
    op.drop_column("placements", "changed")
    op.drop_table("placement_watermark")
    op.drop_table("engine_shapes")
    op.drop_table("engine_placements")
    op.drop_table("engine_steps")
    op.drop_column("engine_state", "mark")
    op.drop_column("engine_state", "step")
