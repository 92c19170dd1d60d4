"""Task accuracy from model and data size, in two steps (a chained law).

    step 1:  L(N, D) = E + A/N^α + B/D^β                 (task loss; Chinchilla's form)
    step 2:  Acc(L)  = a / (1 + exp(−k·(L − L0))) + b    (accuracy; `task-accuracy`)
    Acc(N, D) = step 2 at step 1's prediction

Symbols: N parameters (`params`), D training tokens (`tokens`), L the task loss
(`loss:<task>`), Acc the task accuracy (`acc:<task>`); `--set task=NAME` names the task.
Step 1 is fitted in log space on each run's final row, step 2 in linear space on every row (all
checkpoints of all runs), and one bootstrap over runs refits both steps on the same resample.

Paper: Bhagia et al. 2024, "Establishing Task Scaling Laws via Compute-Efficient Model Ladders"
(arXiv:2412.04403), the two-step approach.
"""

from __future__ import annotations

from scaling.laws.base import BASE_SETTINGS
from scaling.laws.chain import Chain
from scaling.laws.chinchilla import Chinchilla
from scaling.laws.registry import register
from scaling.laws.task_accuracy import TASK, TaskAccuracy


@register
class Task(Chain):
    name = "task"
    title = "Task accuracy in two steps, N, D -> task loss -> accuracy (Bhagia et al. 2024)"
    equation = "L = E + A/N^alpha + B/D^beta;  Acc = a/(1 + exp(-k (L - L0))) + b"
    step_names = ("loss", "accuracy")
    settings_spec = (*[s for s in BASE_SETTINGS if s.name == "confidence"], TASK)

    def make_steps(self):
        task = self.task or "<task>"
        return (Chinchilla(target=f"loss:{task}", confidence=self.confidence),
                TaskAccuracy(task=self.task, confidence=self.confidence))
