"""Sign-in and sign-up pages."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.views import LoginView
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.throttling import LoginIPThrottle, LoginUsernameThrottle
from core.throttling import page_within_limits


class LoginPage(LoginView):
    """Sign-in, with the API's sign-in limits (per address and per username)."""

    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if page_within_limits(request, LoginIPThrottle(), LoginUsernameThrottle()):
            return super().post(request, *args, **kwargs)
        # An unbound form: validating it would try the password once more.
        form = self.form_class(request, initial={"username": request.POST.get("username", "")})
        message = "Too many sign-in attempts: wait a minute and try again."
        context = self.get_context_data(form=form, throttled=message)
        return self.render_to_response(context, status=429)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["signup_enabled"] = settings.SIGNUP_ENABLED
        return context


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Create an account and sign in; a 404 unless `SIGNUP_ENABLED`."""
    if not settings.SIGNUP_ENABLED:
        raise Http404("Sign-up is not enabled.")
    if request.user.is_authenticated:
        return redirect("gallery:home")
    form: UserCreationForm[Any] = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        login(request, form.save())
        messages.success(request, "Welcome! Your account is ready: upload your first images.")
        return redirect("gallery:upload")
    return render(request, "registration/signup.html", {"form": form})
