"""Task accuracy from model and data size, in two steps (a chained law).

    step 1:  L(N, D) = A/N^α + B/D^β + E                  (task loss; `task-loss`)
    step 2:  Acc(L)  = a / (1 + exp(−k·(L − L0))) + b     (accuracy; `task-accuracy`)
    Acc(N, D) = step 2 at step 1's prediction

Symbols: N parameters (`params`), D training tokens (`tokens`), L the task loss
(`loss:<task>`), Acc the task accuracy (`acc:<task>`); `--task NAME` (or `--set task=NAME`)
names the task. Each step is fitted as the paper does (see its file): step 1 on each run's final
value (the mean of its last 5 evaluations) by Huber in log space from the paper's start, step 2
by least squares on every evaluation after each run's first 10%, smoothed over 5 evaluations,
plus the ideal point (L = 0, Acc = 1). One bootstrap over runs refits both steps on the same
resample, so a prediction's interval carries both steps' uncertainty; a held-out run is judged
at the mean of its last 5 accuracies.

Variants (`--variant` in `scaling fit` and `scaling backtest`, compared by `--variant all`):
- `two-step` (this law as above);
- `lm-loss`: the LM loss as the intermediate (`--set intermediate=loss`): step 1 fits `loss`,
  step 2 reads accuracy from `loss`;
- `gadre`: step 2 is Gadre et al.'s Err(L) = ε − k·exp(−γL) (`--set step2=exponential`,
  `task-error`);
- `single-step`: accuracy straight from N and D (`task-single`).

Paper: Bhagia et al. 2024, "Establishing Task Scaling Laws via Compute-Efficient Model Ladders"
(arXiv:2412.04403), the two-step approach.
"""

from __future__ import annotations

from scaling.errors import ScalingError
from scaling.laws.base import BASE_SETTINGS, Setting
from scaling.laws.chain import Chain
from scaling.laws.registry import register
from scaling.laws.task_accuracy import STEP2_SETTINGS, TaskAccuracy, ideal_point_note
from scaling.laws.task_error import TaskError
from scaling.laws.task_loss import LAST_SETTING, STARTS, TaskLoss
from scaling.data.evaluations import (accuracy_extras, accuracy_warnings, anchors, final_values,
                               load_accuracy_extras, unidentified_accuracy)

STEP2_FORMS = {"sigmoid": TaskAccuracy, "exponential": TaskError}


@register
class Task(Chain):
    name = "task"
    title = "Task accuracy in two steps, N, D -> task loss -> accuracy (Bhagia et al. 2024)"
    equation = "L = A/N^alpha + B/D^beta + E;  Acc = a/(1 + exp(-k (L - L0))) + b"
    step_names = ("loss", "accuracy")
    settings_spec = (
        *[s for s in BASE_SETTINGS if s.name == "confidence"],
        *[s for s in STEP2_SETTINGS if s.name != "input"],
        Setting("intermediate", None, "the loss between the steps (default loss:<task>; loss: "
                "the LM loss)", str),
        Setting("step2", "sigmoid", "step 2's form: sigmoid (Bhagia) or exponential (Gadre)",
                str, lambda v: None if v in STEP2_FORMS else "must be sigmoid or exponential"),
        LAST_SETTING, STARTS)

    def __init__(self, **settings):
        super().__init__(**settings)
        if self.step2 == "exponential":
            self.equation = "L = A/N^alpha + B/D^beta + E;  Acc = 1 - eps + k exp(-gamma L)"

    def check_settings(self):
        if self.task is None:
            raise ScalingError(f"the {self.name} law needs a task: --task NAME (it reads "
                               "acc:NAME and loss:NAME, or --set intermediate=COLUMN)")
        super().check_settings()

    def make_steps(self):
        intermediate = self.intermediate or f"loss:{self.task or '<task>'}"
        first = TaskLoss(target=intermediate, task=self.task, last=self.last, starts=self.starts,
                         confidence=self.confidence)
        first.carry = (f"acc:{self.task or '<task>'}",)
        second = STEP2_FORMS[self.step2](task=self.task, input=intermediate, chance=self.chance,
                                         skip=self.skip, smooth=self.smooth,
                                         skip_by=self.skip_by,
                                         confidence=self.confidence)
        return first, second

    def fit_extras(self, points):
        return accuracy_extras(points, self.target, self.steps[1].chance_level, self.link)

    def load_extras(self, block):
        return load_accuracy_extras(block)

    def law_warnings(self, fit):
        return accuracy_warnings(fit.extras_, self.target, self.link)

    def unidentified_range(self, fit):
        return unidentified_accuracy(fit.extras_)

    def fit_rows(self, data):
        """Step 2's points that have a model size (the ideal point has none)."""
        points = self.steps[1].fit_rows(data)
        return points[~anchors(points)]

    def notes(self, fit):
        return ideal_point_note(fit.params_.get("b")) if self.step2 == "sigmoid" else []

    def target_rows(self, frame):
        return final_values(frame, (self.link, self.target), self.last)

    def fit_residuals(self, theta, problems):
        """Residuals of the chained prediction at each run's final value (step 1's points, whose
        accuracy is averaged like its loss)."""
        points = problems[0].points
        inputs = {name: points[name].to_numpy(float) for name in self.inputs}
        return (points[self.target].to_numpy(float)
                - self.predict_theta(theta[None, :], inputs)[0])
