"""`print_config_tree(cfg)`: the run's composed config as a tree at the start of a run
(`extras.print_config=true`, the default), so a log file shows what ran without
opening `.hydra/config.yaml`.

Values are shown resolved (`${paths.output_dir}` as the real folder); `???` marks what
the data fills in a moment later (`model.task`, the net's sizes). The run-level keys
(`seed`, `tags`, ...) come first, then the groups in the order a run uses them.
"""

from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

_ORDER = ("data", "model", "callbacks", "logger", "trainer", "paths")


@rank_zero_only  # one tree, not one per DDP process
def print_config_tree(cfg: DictConfig) -> None:
    """Print `cfg` (without `hydra`) as a `rich` tree: one branch per group, YAML inside."""
    from rich.console import Console
    from rich.syntax import Syntax
    from rich.tree import Tree

    tree = Tree("config", guide_style="dim")
    plain = {k: cfg[k] for k in cfg if k not in _ORDER and k != "hydra"}
    groups = [k for k in _ORDER if k in cfg]
    if plain:
        tree.add(Syntax(_yaml(OmegaConf.create(plain)), "yaml", theme="ansi_dark"))
    for key in groups:
        node = cfg[key]
        text = _yaml(node) if isinstance(node, DictConfig) else f"{node}\n"
        tree.add(key).add(Syntax(text.rstrip("\n") or "{}", "yaml", theme="ansi_dark"))
    console = Console()
    if not console.is_terminal:  # a log file: long paths on one line, never wrapped
        console = Console(width=1000)
    console.print(tree)


def _yaml(node: DictConfig) -> str:
    """`node` as YAML, resolved where it can be (an interpolation that cannot resolve
    outside a Hydra run, e.g. in a test, is shown as written)."""
    try:
        return OmegaConf.to_yaml(node, resolve=True)
    except OmegaConfBaseException:  # e.g. `${model.task}` while the task is still `???`
        return OmegaConf.to_yaml(node)
